"""Contract-violating files for the last drop (``inject_bad_rows``), to show where they end up."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

from zxt.core.identifiers import ALPHABET
from zxt.ingest import contracts
from zxt_sandbox.synth.common import _period_start, drop_file
from zxt_sandbox.synth.county import _County
from zxt_sandbox.synth.enterprise import _Enterprise, _enterprise, _taxpayer_row


def _write_bad_files(county: _County, out_dir: Path, enterprises: int, ref: _Enterprise | None) -> list[Path]:
    last = county.end
    stamp = f"{last:%Y%m%d}"
    paths: list[Path] = []

    # tax/taxpayers: indices beyond the county give USCCs that clash with no real row.
    ds = contracts.get("tax/taxpayers")
    bad_rows = []
    for k in range(3):
        e = _enterprise(county, enterprises + k)
        row = _taxpayer_row(e, last)
        row[2] = min(e.registered, last).isoformat()
        if k < 2:  # wrong check character: shift it by one place in the alphabet
            row[0] = e.uscc[:17] + ALPHABET[(ALPHABET.index(e.uscc[17]) + 1) % len(ALPHABET)]
            row[12] = row[12] or "13912345678"
        else:
            row[12] = "12345678901"
            row[11] = row[11] or "张伟"
        bad_rows.append(row)
    paths.append(
        _write_file(drop_file(out_dir, "tax/taxpayers", last, "_bad"), ds.encoding, ds.column_names, bad_rows)
    )

    # tax/filings in UTF-8 with a euro sign in a numeric cell.
    ds = contracts.get("tax/filings")
    uscc_code = ref.uscc if ref is not None else _enterprise(county, 0).uscc
    q_start = _period_start(last, True)
    prev_end = q_start - timedelta(days=1)
    prev_start = _period_start(prev_end, True)
    older_end = prev_start - timedelta(days=1)
    older_start = _period_start(older_end, True)
    oldest_end = older_start - timedelta(days=1)
    periods = [
        (prev_start, prev_end),
        (older_start, older_end),
        (_period_start(oldest_end, True), oldest_end),
    ]
    payable = ["35.00", "€35.00", "12.50"]  # data row 2: the euro sign (E2 82 AC) is no GB18030 sequence
    rows = [
        [uscc_code, "STAMP", ps.isoformat(), pe.isoformat(), last.isoformat(), "", tax, tax.lstrip("€")]
        for (ps, pe), tax in zip(periods, payable, strict=True)
    ]
    paths.append(
        _write_file(drop_file(out_dir, "tax/filings", last, "_utf8"), "utf-8", ds.column_names, rows)
    )

    # contact/consents without the channel column.
    ds = contracts.get("contact/consents")
    mobile = ref.mobile if ref is not None else "13900000000"
    cols = [c for c in ds.column_names if c != "channel"]
    rows = [[f"CE-BAD-{stamp}-{n}", uscc_code, mobile, "opt_out", last.isoformat()] for n in (1, 2)]
    paths.append(
        _write_file(drop_file(out_dir, "contact/consents", last, "_no_channel"), ds.encoding, cols, rows)
    )
    return paths


def _write_file(path: Path, encoding: str, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return path
