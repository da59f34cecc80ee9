"""Every note the code cites is in the repository: citations name docs/*.md files that exist, and
each `docs/domain.md §N` they cite is a section there. The notes the project began from lived
outside the repository; nothing may cite them any more."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OLD_NOTES = re.compile(r"\b(DESIGN|CONTRACT|DOMAIN)\.md\b")


def tracked() -> list[Path]:
    names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / n for n in names if n.endswith((".py", ".md", ".json", ".yaml", ".yml", ".toml"))
            and (ROOT / n).is_file()]


def test_nothing_cites_the_notes_outside_the_repository():
    citing = [str(p.relative_to(ROOT)) for p in tracked() if OLD_NOTES.search(p.read_text(errors="replace"))]
    assert not citing, f"cite docs/design.md, docs/contract.md or docs/domain.md instead: {citing}"


def test_every_cited_doc_and_section_exists():
    sections = set(re.findall(r"^## (§\d+)", (ROOT / "docs" / "domain.md").read_text(), re.M))
    assert sections == {f"§{n}" for n in range(1, 7)}
    for path in tracked():
        text = path.read_text(errors="replace")
        for doc in set(re.findall(r"docs/([a-z_A-Z]+\.md)", text)):
            assert (ROOT / "docs" / doc).exists(), f"{path.relative_to(ROOT)} cites docs/{doc}"
        for cited in re.findall(r"docs/domain\.md ((?:§\d+(?:, )?)+)", text):
            for section in re.findall(r"§\d+", cited):
                assert section in sections, f"{path.relative_to(ROOT)} cites docs/domain.md {section}"
