"""Render ``docs/contracts.md`` from the landing-zone contracts (``contracts/landing.yml``).

The YAML file is the single source of truth; the Markdown is generated from it and a unit test keeps
the two identical. After changing a contract, regenerate with ``python -m zxt_sandbox.contract_docs``.
"""

from __future__ import annotations

from pathlib import Path

from zxt.core.identifiers import MOBILE_PATTERN
from zxt.core.settings import PROJECT_ROOT
from zxt.ingest.contracts import CONTRACTS_DIR, TYPES, Column, Dataset, load_contracts

DOC_PATH = PROJECT_ROOT / "docs" / "contracts.md"

# How ingest (zxt.ingest.validate._check_sql) checks each column type; every contract type must be listed here.
TYPE_CHECKS: dict[str, str] = {
    "text": "any text (not checked)",
    "date": "a calendar date, written `YYYY-MM-DD`",
    "int": "a whole number of at most 9 digits, optional leading `-`",
    "numeric": "a decimal with at most 16 integer digits and 2 decimals, no thousands separator (`1234.50`)",
    "bool": "`0` or `1`",
    "uscc": "an 18-character unified social credit code (GB 32100 alphabet and check digit)",
    "mobile": f"a mainland mobile number matching `{MOBILE_PATTERN}` (11 digits, no `+86`, no spaces)",
    "enum": "exactly one of the column's allowed values (case-sensitive)",
}

# Every value of raw.rejects.rule, in the order a file meets them.
REJECT_RULES: tuple[tuple[str, str, str], ...] = (
    (
        "header",
        "the header line cannot be read: empty file, header not valid in the contract encoding, duplicate "
        "header names, or a UTF-8 file under a GB18030 contract",
        "every line of the file, header included (line 1)",
    ),
    ("encoding", "a line is not valid in the contract encoding", "that line"),
    ("shape", "a line has a different number of fields than the header", "that line"),
    (
        "missing_column",
        "the header lacks a contract column (extra columns are ignored and logged)",
        "every data line of the file",
    ),
    ("required", "a required cell is empty (after trimming spaces)", "that row"),
    ("date", "not a valid date", "that row"),
    ("int", "not a whole number", "that row"),
    ("numeric", "not a decimal as described above", "that row"),
    ("bool", "not `0` / `1`", "that row"),
    ("uscc", "bad USCC shape or check digit", "that row"),
    ("mobile", "not a mainland mobile number", "that row"),
    ("enum", "not one of the allowed values", "that row"),
    (
        "duplicate_key",
        "the row's key already appeared on an earlier line of the same file (the earliest line wins, "
        "even if it was itself rejected)",
        "every later line with that key",
    ),
)

LOAD_KINDS: tuple[tuple[str, str], ...] = (
    (
        "snapshot",
        "each drop is the full current state of the dataset; staging reads the latest drop dated on or "
        "before `as_of_date`",
    ),
    (
        "delta",
        "each drop holds the new events of that business date; staging unions every drop dated on or "
        "before `as_of_date`",
    ),
)

ENCODINGS: tuple[tuple[str, str], ...] = (
    ("utf-8", "UTF-8; a leading byte-order mark (UTF-8-BOM, as Excel writes it) is accepted"),
    (
        "gb18030",
        "GB18030, which includes GBK and GB2312 (typical of Chinese government extracts); a file that is "
        "really UTF-8 is refused whole (rule `header`) rather than loaded as garbled text",
    ),
)

LINEAGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_batch_id", "the load batch (`ops.load_batches.batch_id`)"),
    ("_source_file", "the file, relative to the landing root"),
    (
        "_row_number",
        "record number in the file (the header is 1; the line number unless a quoted cell spans lines)",
    ),
    ("_drop_date", "the drop's business date (its folder name)"),
    ("_loaded_at", "when the row was loaded"),
    ("_extra", "columns the sender added that the contract does not know (JSON), kept and reported"),
)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _code(text: str) -> str:
    return f"`{text}`"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _column_row(col: Column, key: tuple[str, ...]) -> tuple[str, ...]:
    name = _code(col.name) + (" (key)" if col.name in key else "")
    values = ", ".join(_code(v) for v in col.values) if col.values else ""
    return (name, col.type, "yes" if col.required else "no", values, _cell(col.doc))


def _source_label() -> str:
    try:
        return CONTRACTS_DIR.relative_to(PROJECT_ROOT).as_posix() + "/*.yml"
    except ValueError:
        return CONTRACTS_DIR.name + "/*.yml"


def _intro() -> list[str]:
    out = [
        "# Landing-zone contracts",
        "",
        f"<!-- Generated from {_source_label()} by `python -m zxt_sandbox.contract_docs`; do not edit by hand. -->",
        "",
        f"Every dataset the pipeline accepts is declared once, in `{_source_label()}`. The ingest step "
        "(`zxt.ingest`, the `ingest_drop` task of `zxt_nightly`, or `zxt ingest --date D`) checks each file "
        "against it; this page is generated from the same file.",
        "",
        "## Layout",
        "",
        "```",
        "<landing>/<system>/<dataset>/<YYYY-MM-DD>/*.csv",
        "```",
        "",
        "- `<landing>` is `ZXT_LANDING_DIR` (default `<ZXT_HOME>/landing`).",
        "- One folder per dataset and business date (a *drop*); the folder name is the drop's business date. "
        "Folders whose name is not a date are ignored with a warning.",
        "- A run for `as_of_date` D loads every drop dated on or before D. A file already loaded with the same "
        "SHA-256 is skipped; a changed file replaces the rows that file loaded before, in one transaction.",
        "- Only `*.csv` files are loaded; other files in a drop folder are ignored with a warning. The first "
        "line is the header; columns are matched by name, so their order is free.",
        "- Cells are trimmed; an empty cell is NULL.",
        "",
        "## Load kinds",
        "",
        *_table(("load", "meaning"), [(_code(k), v) for k, v in LOAD_KINDS]),
        "",
        "## Encodings",
        "",
        *_table(("encoding", "what the sender must use"), [(_code(k), v) for k, v in ENCODINGS]),
        "",
        "## Column types",
        "",
        *_table(
            ("type", "a non-empty cell must be"), [(_code(t), TYPE_CHECKS[t]) for t in sorted(TYPE_CHECKS)]
        ),
        "",
        "`required: yes` means the cell must be non-empty. Accepted rows go to `raw.<system>__<entity>` with "
        "the contract columns plus lineage columns:",
        "",
        *_table(("lineage column", "meaning"), [(_code(c), m) for c, m in LINEAGE_COLUMNS]),
        "",
        "## Bad rows: `raw.rejects`",
        "",
        "A row that breaks the contract is never silently dropped: it goes to `raw.rejects` with",
        "",
        "- `source_file`: the file, relative to the landing root (also `dataset`, `drop_date`, `batch_id`);",
        "- `row_number`: the line number in the file, the header being line 1;",
        "- `rule`: which check failed (the first one, when several did);",
        "- `reason`: every failed check of that row, in words, separated by `; `;",
        "- `record`: the row's cells, comma-joined, as received.",
        "",
        *_table(("rule", "when", "rejected"), [(_code(r), w, what) for r, w, what in REJECT_RULES]),
        "",
        "Rejected rows are counted per file in `ops.load_batches.rows_rejected`; the source gate reports "
        "them per dataset. Find a file's rejects with "
        "`select row_number, rule, reason from raw.rejects where source_file = '<file>' order by row_number`.",
        "",
        "## Archived originals",
        "",
        "Before loading, every file is copied unchanged to",
        "",
        "```",
        "<archive>/<system>/<dataset>/<YYYY-MM-DD>/<sha256[:16]>__<file>",
        "```",
        "",
        "where `<archive>` is `ZXT_ARCHIVE_DIR` (default `<ZXT_HOME>/archive`). The full SHA-256, size, "
        "encoding and archive path are in `ops.load_batches`, one row per source file.",
        "",
    ]
    return out


def _dataset_section(ds: Dataset) -> list[str]:
    return [
        f"### {ds.name}",
        "",
        _cell(ds.description),
        "",
        f"- load: `{ds.load}`",
        f"- encoding: `{ds.encoding}`",
        f"- key: {', '.join(_code(k) for k in ds.key)}",
        f"- raw table: `raw.{ds.raw_table}`",
        "",
        *_table(
            ("column", "type", "required", "allowed values", "meaning"),
            [_column_row(c, ds.key) for c in ds.columns],
        ),
        "",
    ]


def render_markdown(contracts: dict[str, Dataset]) -> str:
    """The whole of docs/contracts.md for these contracts (deterministic: same input, same bytes)."""
    unknown = sorted({c.type for ds in contracts.values() for c in ds.columns} - set(TYPE_CHECKS))
    if unknown or set(TYPE_CHECKS) != TYPES:
        raise ValueError(
            f"contract_docs.TYPE_CHECKS must describe exactly the contract types {sorted(TYPES)}"
        )
    lines = _intro()
    lines += [
        "## Datasets",
        "",
        *_table(
            ("dataset", "load", "encoding", "key", "raw table"),
            [
                (
                    _code(ds.name),
                    ds.load,
                    ds.encoding,
                    ", ".join(_code(k) for k in ds.key),
                    _code(f"raw.{ds.raw_table}"),
                )
                for ds in contracts.values()
            ],
        ),
        "",
    ]
    for ds in contracts.values():
        lines += _dataset_section(ds)
    return "\n".join(lines).rstrip("\n") + "\n"


def write(path: Path = DOC_PATH) -> Path:
    """Regenerate the contracts page from the landing contracts (zxt/ingest/landing/*.yml)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_markdown(load_contracts()), encoding="utf-8")
    return path


if __name__ == "__main__":
    print(write())
