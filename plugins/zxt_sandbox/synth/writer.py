"""Write the landing zone: one drop per business date, streaming one enterprise at a time."""

from __future__ import annotations

import csv
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from zxt.ingest import contracts
from zxt_sandbox.synth.bad_files import _write_bad_files
from zxt_sandbox.synth.common import DATASETS, MAX_DROPS_PER_PASS, drop_file
from zxt_sandbox.synth.county import _County, _county
from zxt_sandbox.synth.enterprise import _Enterprise, _enterprise, _obligation_rows, _taxpayer_row
from zxt_sandbox.synth.external import EXTERNAL
from zxt_sandbox.synth.external import rows as external_rows
from zxt_sandbox.synth.external import story as external_story
from zxt_sandbox.synth.tables import _MA_SPACE


@dataclass(frozen=True)
class DatasetCount:
    files: int
    rows: int  # data rows, header excluded


@dataclass
class SynthSummary:
    out_dir: Path
    start: date
    end: date
    enterprises: int  # generated; an enterprise shows up in snapshots from its registered_date on
    datasets: dict[str, DatasetCount]
    bad_files: list[Path] = field(default_factory=list)  # inject_bad_rows only; not counted above
    passes: int = 1

    @property
    def drops(self) -> int:
        return (self.end - self.start).days + 1


# --- writing ---------------------------------------------------------------------------------------
class _Writers:
    """One open csv writer per (dataset, drop) of the current pass, counting rows."""

    def __init__(self, stack: ExitStack, out_dir: Path, days: list[date]) -> None:
        self.writers: dict[tuple[str, date], Any] = {}
        self.rows: dict[str, int] = dict.fromkeys(DATASETS + EXTERNAL, 0)
        for name in DATASETS + EXTERNAL:
            ds = contracts.get(name)
            # External departments' data arrives as the platform serves it: UTF-8 (contracts say auto).
            encoding = "utf-8" if ds.encoding == "auto" else ds.encoding
            for day in days:
                path = drop_file(out_dir, name, day)
                path.parent.mkdir(parents=True, exist_ok=True)
                fh = stack.enter_context(path.open("w", encoding=encoding, newline="", buffering=1 << 16))
                w = csv.writer(fh, lineterminator="\n")
                w.writerow(ds.column_names)
                self.writers[(name, day)] = w

    def write(self, name: str, day: date, row: list[str]) -> None:
        self.writers[(name, day)].writerow(row)
        self.rows[name] += 1


def generate(
    out_dir: Path,
    start: date,
    end: date,
    enterprises: int = 15000,
    seed: int = 42,
    history_years: int = 3,
    progress: Callable[[int], None] | None = None,
    inject_bad_rows: bool = False,
) -> SynthSummary:
    """Write a synthetic county landing zone for every business date in [start, end].

    ``progress`` is called with the number of enterprises generated so far (every 100 and at the
    end of each pass); runs longer than ``MAX_DROPS_PER_PASS`` drops take several passes over the
    county, and the count keeps rising across them up to ``enterprises * passes``.

    With ``inject_bad_rows`` the LAST drop (``end``) also gets three extra files that break the
    contract on purpose (the regular files stay valid):

    * ``tax/taxpayers/<end>/taxpayers_<YYYYMMDD>_bad.csv`` (GB18030, contract header, 3 data rows with
      USCCs that occur nowhere else): data rows 1 and 2 have a wrong 18th (check) character, so
      ``zxt.uscc.is_valid`` is False; data row 3 has a valid USCC but ``contact_mobile`` =
      ``12345678901`` (second digit 2: not ``1[3-9]\\d{9}``). Every other cell is valid.
    * ``tax/filings/<end>/filings_<YYYYMMDD>_utf8.csv``: encoded UTF-8 although the contract says
      gb18030; contract header, 3 data rows, tax_type ``STAMP`` (no STAMP rows exist elsewhere, so no
      key clashes) for a real enterprise. Rows 1 and 3 are ASCII and valid; data row 2 has
      ``tax_payable`` = ``€35.00`` - strict GB18030 decoding of the file raises UnicodeDecodeError
      (the UTF-8 bytes of € are no GB18030 sequence), and the cell is no numeric either.
    * ``contact/consents/<end>/consents_<YYYYMMDD>_no_channel.csv`` (UTF-8): header is the contract
      columns without ``channel``; 2 otherwise valid opt_out rows (event_id ``CE-BAD-<YYYYMMDD>-1``
      and ``-2``), which the contract rejects as a whole file for the missing required column.
    """
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    if not 1 <= enterprises <= _MA_SPACE - 3 or history_years < 0:
        raise ValueError(f"need 1 <= enterprises <= {_MA_SPACE - 3:,} and history_years >= 0")
    county = _county(seed, start, end, history_years)
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    windows = [days[i : i + MAX_DROPS_PER_PASS] for i in range(0, len(days), MAX_DROPS_PER_PASS)]
    rows = dict.fromkeys(DATASETS + EXTERNAL, 0)
    done = 0
    reference: _Enterprise | None = None  # a live enterprise with a mobile, for the bad files
    for window in windows:
        window_set = set(window)
        with ExitStack() as stack:
            out = _Writers(stack, out_dir, window)
            for idx in range(enterprises):
                e = _enterprise(county, idx)
                _write_enterprise(county, e, window, window_set, out)
                if reference is None and e.mobile and e.registered <= start and e.status == "normal":
                    reference = e
                done += 1
                if progress is not None and (done % 100 == 0 or idx == enterprises - 1):
                    progress(done)
            for name, n in out.rows.items():
                rows[name] += n
    summary = SynthSummary(
        out_dir=out_dir,
        start=start,
        end=end,
        enterprises=enterprises,
        datasets={name: DatasetCount(files=len(days), rows=rows[name]) for name in DATASETS + EXTERNAL},
        passes=len(windows),
    )
    if inject_bad_rows:
        summary.bad_files = _write_bad_files(county, out_dir, enterprises, reference)
    return summary


def _write_enterprise(
    county: _County, e: _Enterprise, window: list[date], window_set: set[date], out: _Writers
) -> None:
    start = county.start
    for day in window:
        if e.registered > day:
            continue
        out.write("tax/taxpayers", day, _taxpayer_row(e, day))
        for row in _obligation_rows(e, day):
            out.write("tax/obligations", day, row)
        for published, row in e.ratings:
            if published <= day:
                out.write("credit/ratings", day, row)
        for authorised, revoked, row in e.auths:
            if authorised <= day:
                if revoked is not None and revoked <= day:
                    row = [*row[:5], revoked.isoformat(), row[6]]
                out.write("bank/authorisations", day, row)
    # Delta datasets: history up to start goes to the start drop, later events to their own day.
    for filed, row in e.filings:
        if filed <= start:
            if filed >= county.history_start and start in window_set:
                out.write("tax/filings", start, row)
        elif filed in window_set:
            out.write("tax/filings", filed, row)
    for day, row in e.consents:
        if day <= start:
            if start in window_set:
                out.write("contact/consents", start, row)
        elif day in window_set:
            out.write("contact/consents", day, row)
    s = external_story(county, e)
    for day in window:
        for name in EXTERNAL:
            for row in external_rows(county, e, s, name, day, history=day == start):
                out.write(name, day, row)
