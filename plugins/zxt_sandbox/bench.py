"""Benchmarks with recorded results (docs/benchmarks.md), never timing assertions in tests.

They use their own embedded warehouse under <ZXT_HOME>/bench (port ZXT_BENCH_PG_PORT, 54349) so the
demo's data is untouched.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from zxt.core.settings import Settings, get_settings
from zxt.ingest import load as ingest
from zxt.warehouse import migrate
from zxt.warehouse import server as warehouse
from zxt_sandbox import synth


@dataclass
class IngestBench:
    enterprises: int
    files: int
    bytes: int
    rows_loaded: int
    rows_rejected: int
    synth_s: float
    ingest_s: float
    copy_baseline_s: float
    copy_baseline_rows: int

    @property
    def rows_per_s(self) -> float:
        return self.rows_loaded / self.ingest_s

    @property
    def copy_rows_per_s(self) -> float:
        return self.copy_baseline_rows / self.copy_baseline_s


def bench_settings() -> Settings:
    base = get_settings()
    home = base.paths.home / "bench"
    return base.with_(
        paths__home=home,
        paths__landing_dir=home / "landing",
        paths__archive_dir=home / "archive",
        warehouse__embedded_port=int(os.environ.get("ZXT_BENCH_PG_PORT", "54349")),
    )


def run_ingest(enterprises: int = 15000, seed: int = 42, as_of: date = date(2026, 11, 12)) -> IngestBench:
    settings = bench_settings()
    engine = warehouse.engine(settings)
    with engine.begin() as conn:
        for s in ("raw", "ops"):
            conn.execute(sa.text(f"drop schema if exists {s} cascade"))
    migrate.forget_checks()
    migrate.upgrade(engine)

    t = time.perf_counter()
    marker = settings.paths.landing / f".bench-{enterprises}-{seed}-{as_of}"
    if not marker.exists():
        synth.generate(settings.paths.landing, as_of, as_of, enterprises=enterprises, seed=seed)
        marker.touch()
    synth_s = time.perf_counter() - t
    files = [p for p in settings.paths.landing.rglob("*.csv")]

    t = time.perf_counter()
    results = ingest.ingest_until(as_of, settings)
    ingest_s = time.perf_counter() - t

    baseline_s, baseline_rows = _copy_baseline(
        engine, settings.paths.landing / "tax/filings" / as_of.isoformat()
    )
    return IngestBench(
        enterprises=enterprises,
        files=len(files),
        bytes=sum(p.stat().st_size for p in files),
        rows_loaded=sum(r["rows_loaded"] for r in results),
        rows_rejected=sum(r["rows_rejected"] for r in results),
        synth_s=synth_s,
        ingest_s=ingest_s,
        copy_baseline_s=baseline_s,
        copy_baseline_rows=baseline_rows,
    )


def _copy_baseline(engine: sa.Engine, folder: Path) -> tuple[float, int]:
    """PostgreSQL's own COPY of the filings file into an untyped table: the ceiling for ingest."""
    path = next(folder.glob("*.csv"))
    with engine.begin() as conn:
        pg = conn.connection.driver_connection
        with pg.cursor() as cur:
            cur.execute(
                "create temp table _copy_baseline (a text, b text, c text, d text, e text, f text, g text, "
                "h text) on commit drop"
            )
            t = time.perf_counter()
            with (
                path.open("rb") as fh,
                cur.copy(
                    "copy _copy_baseline from stdin (format csv, header true, encoding 'GB18030')"
                ) as copy,
            ):
                while chunk := fh.read(1 << 20):
                    copy.write(chunk)
            elapsed = time.perf_counter() - t
            rows = cur.execute("select count(*) from _copy_baseline").fetchone()[0]
    return elapsed, rows
