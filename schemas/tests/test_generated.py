from rentflow_schemas.generate import GENERATED, documents


def test_generated_schemas_are_current():
    stale = [n for n, text in documents().items() if not (GENERATED / n).exists() or (GENERATED / n).read_text() != text]
    assert not stale, f"regenerate with `python -m rentflow_schemas.generate`: {stale}"
