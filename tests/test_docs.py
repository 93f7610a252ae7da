"""The generated pages in docs/ are up to date with their sources."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _generator():
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_spec_reference_is_generated_from_the_current_schema():
    gen = _generator()
    page = (ROOT / "docs" / "spec-reference.md").read_text("utf-8")
    assert page == gen.spec_reference(), "docs/spec-reference.md is stale: run scripts/gen_docs.py"


def test_spec_reference_has_a_row_for_every_schema_key():
    import json

    schema = json.loads((ROOT / "schemas" / "model-spec.schema.json").read_text("utf-8"))
    page = (ROOT / "docs" / "spec-reference.md").read_text("utf-8")
    for key, node in schema["properties"].items():
        assert f"| `{key}` |" in page
        for sub in node.get("properties", {}):
            assert f"| `{key}.{sub}` |" in page


def test_diagnostics_catalogue_is_generated_from_the_current_corpus(monkeypatch):
    gen = _generator()
    monkeypatch.chdir(ROOT)
    page = (ROOT / "docs" / "diagnostics.md").read_text("utf-8")
    assert page == gen.diagnostics(), "docs/diagnostics.md is stale: run scripts/gen_docs.py"
    for path in (ROOT / "tests" / "bad_specs").glob("*.yaml"):
        assert f"### `{path.stem}`" in page
