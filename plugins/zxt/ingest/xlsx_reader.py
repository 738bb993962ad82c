"""XLSX files from departments → the CSV path: every sheet whose header carries the contract's
required columns is read; Chinese headers are mapped to contract columns; merged header cells
(a title row across the sheet, group headers across columns, a label spanning two header rows)
are filled before the header row is chosen.

The converted CSV goes through the same checks as any landing file; each of its records remembers
its sheet and spreadsheet row so that rejects point at the cell a person would open.
"""

from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from zxt.ingest.contracts import Dataset
from zxt.ingest.refusal import FileRefused

log = logging.getLogger(__name__)
HEADER_SCAN_ROWS = 10  # the header is within the first rows, under titles and group headers
_NOISE = re.compile(r"[\s（(][^）)]*[）)]|\s+|[*＊:：]")  # "(元)", "（必填）", spaces, asterisks


@dataclass
class Converted:
    rows: list[tuple[str, int]] = field(default_factory=list)  # (sheet, spreadsheet row) per record
    sheets_read: list[str] = field(default_factory=list)
    sheets_skipped: list[str] = field(default_factory=list)


def _norm(text: Any) -> str:
    return _NOISE.sub("", str(text or "")).lower()


def header_names(ds: Dataset) -> dict[str, str]:
    """Accepted header texts → contract column: the name itself, the first word of its doc (the
    Chinese label, e.g. 统一社会信用代码) and any ``aliases``."""
    out: dict[str, str] = {}
    for c in ds.columns:
        out[_norm(c.name)] = c.name
        if c.doc:
            out[_norm(c.doc.split()[0])] = c.name
        for alias in c.aliases:
            out[_norm(alias)] = c.name
    return out


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def to_csv(path: Path, ds: Dataset, out: Path) -> Converted:
    """Write the contract-shaped rows of every matching sheet of ``path`` to ``out`` (UTF-8 CSV)."""
    import openpyxl  # only XLSX drops need it

    try:
        book = openpyxl.load_workbook(path, data_only=True)
    except Exception as exc:  # zip, XML or format errors: the file is not a readable workbook
        raise FileRefused(
            "xlsx", f"{path.name}: not a readable XLSX workbook ({type(exc).__name__})"
        ) from None
    names = header_names(ds)
    required = {c.name for c in ds.columns if c.required} | set(ds.key)
    result = Converted()
    sheets = []  # (title, grid, header row index, header names, kept column indexes)
    for ws in book.worksheets:
        grid = [list(r) for r in ws.iter_rows(values_only=True)]
        for rng in ws.merged_cells.ranges:  # a merged cell's value belongs to every cell it covers
            top = grid[rng.min_row - 1][rng.min_col - 1] if rng.min_row <= len(grid) else None
            for r in range(rng.min_row - 1, min(rng.max_row, len(grid))):
                for c in range(rng.min_col - 1, rng.max_col):
                    if c < len(grid[r]):
                        grid[r][c] = top
        found = _header_row(grid, names, required)
        if found is None:
            result.sheets_skipped.append(ws.title)
            continue
        at, cols = found
        keep = [i for i, h in enumerate(cols) if _cell(h)]
        sheets.append((ws.title, grid, at, [names.get(_norm(cols[i])) or _cell(cols[i]) for i in keep], keep))
    # One header for all sheets: every column any sheet has (a column only one sheet carries is
    # kept, empty elsewhere), in order of first appearance.
    header_out = list(dict.fromkeys(h for *_, heads, _ in sheets for h in heads)) if sheets else None
    with out.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        if header_out is not None:
            w.writerow(header_out)
        for title, grid, at, heads, keep in sheets:
            order = [keep[heads.index(h)] if h in heads else None for h in header_out or []]
            result.sheets_read.append(title)
            for r, row in enumerate(grid[at + 1 :], start=at + 2):
                if all(_cell(v) == "" for v in row):
                    continue  # blank spacer rows are layout, not data
                w.writerow(["" if i is None or i >= len(row) else _cell(row[i]) for i in order])
                result.rows.append((title, r))
    if header_out is None:
        raise FileRefused(
            "header",
            f"{path.name}: no sheet has the columns {sorted(required)} of {ds.name} "
            f"(sheets: {[ws.title for ws in book.worksheets]})",
        )
    if result.sheets_skipped:
        log.warning("%s: sheets without the contract's header skipped: %s", path.name, result.sheets_skipped)
    return result


def _header_row(
    grid: list[list[Any]], names: dict[str, str], required: set[str]
) -> tuple[int, list[Any]] | None:
    """The lowest of the first rows naming every required column (after merged cells are filled,
    a label spanning two header rows appears in both, so the lower row is the full header)."""
    best = None
    for i, row in enumerate(grid[:HEADER_SCAN_ROWS]):
        cols = {names.get(_norm(v)) for v in row} - {None}
        if required <= cols:
            best = (i, row)
    return best
