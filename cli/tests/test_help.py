"""`rentflow ... --help` for every command: each argument and option has help text and a proper
metavar, and nothing shows typer's type placeholders (<str>, <bool>, <list[str]>)."""
from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from rentflow_cli.main import app

PLACEHOLDER = re.compile(r"<(str|bool|int|float|path|list\[[a-z]+\]|[A-Za-z]+)>")


def commands() -> list[tuple[str, ...]]:
    """Every command's path, e.g. ("adjust", "request")."""
    root = typer.main.get_command(app)
    found: list[tuple[str, ...]] = []

    def walk(cmd, path: tuple[str, ...]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, path + (name,))
        else:
            found.append(path)

    walk(root, ())
    return found


def params(path: tuple[str, ...]):
    cmd = typer.main.get_command(app)
    for name in path:
        cmd = cmd.commands[name]
    return cmd.params


ALL = commands()


def test_every_command_is_found():
    assert {("kpi",), ("demo",), ("sample",), ("adjust", "request"), ("tasks", "list"), ("accounts", "list")} <= set(ALL)
    assert len(ALL) > 30


@pytest.mark.parametrize("path", ALL, ids=[" ".join(p) for p in ALL])
def test_help_has_text_and_metavars_for_everything(path):
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert not PLACEHOLDER.search(result.output), result.output
    for p in params(path):
        assert p.help, f"{' '.join(path)}: {p.name} has no help text"
        if not getattr(p, "is_flag", False):
            assert p.metavar and p.metavar[0].isupper(), f"{' '.join(path)}: {p.name} metavar {p.metavar!r}"
    assert max(len(line) for line in result.output.splitlines()) <= 80
