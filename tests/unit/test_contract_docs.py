"""docs/contracts.md is generated from plugins/zxt/ingest/landing/*.yml and must never drift from them."""

from __future__ import annotations

from zxt.ingest.contracts import Column, Dataset, load_contracts
from zxt_sandbox import contract_docs

REGENERATE = "docs/contracts.md is out of date with the contracts: run `python -m zxt_sandbox.contract_docs`"


def _doc() -> str:
    path = contract_docs.DOC_PATH
    assert path.is_file(), f"{path} is missing: run `python -m zxt_sandbox.contract_docs`"
    return path.read_text(encoding="utf-8")


def _sections(doc: str) -> dict[str, str]:
    """Dataset name -> text of its `### <name>` section."""
    out: dict[str, str] = {}
    for chunk in doc.split("\n### ")[1:]:
        name, _, body = chunk.partition("\n")
        out[name.strip()] = body.split("\n## ")[0]
    return out


def test_doc_matches_contracts():
    assert _doc() == contract_docs.render_markdown(load_contracts()), REGENERATE


def test_every_contract_column_is_documented():
    sections = _sections(_doc())
    for name, ds in load_contracts().items():
        assert name in sections, f"dataset {name} has no section; {REGENERATE}"
        body = sections[name]
        assert f"`raw.{ds.raw_table}`" in body
        rows = [line for line in body.splitlines() if line.startswith("| `")]
        documented = [row.split("`")[1] for row in rows]
        assert documented == ds.column_names, f"{name}: columns in the doc differ; {REGENERATE}"


def test_table_cells_escape_pipes_and_render_enum_values():
    ds = Dataset(
        name="demo/things",
        description="things | stuff",
        load="delta",
        encoding="utf-8",
        key=("thing_id",),
        columns=(
            Column("thing_id", "text", required=True, doc="id"),
            Column("kind", "enum", values=("a", "b"), doc="one|two"),
        ),
    )
    doc = contract_docs.render_markdown({ds.name: ds})
    row = next(line for line in doc.splitlines() if line.startswith("| `kind`"))
    assert row == "| `kind` | enum | no | `a`, `b` | one\\|two |"
    assert "| `thing_id` (key) | text | yes |  | id |" in doc
    assert "`raw.demo__things`" in doc
    assert doc.endswith("\n") and not doc.endswith("\n\n")


def test_write_replaces_a_stale_page_with_every_dataset(tmp_path):
    path = tmp_path / "docs" / "contracts.md"
    path.parent.mkdir()
    path.write_text("### stale/dataset\n| `gone` | text | no |  | old |\n", encoding="utf-8")
    target = contract_docs.write(path)
    assert target == path
    sections = _sections(path.read_text(encoding="utf-8"))
    assert "stale/dataset" not in sections
    assert sorted(sections) == sorted(load_contracts())
    assert "| `uscc` (key) | uscc | yes |" in sections["tax/taxpayers"]
