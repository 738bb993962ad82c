"""Province-size filings benchmark: validated ingest against PostgreSQL's plain COPY of the same file.

One run, one warehouse (its own, under <ZXT_HOME>/bench-filings, port ZXT_BENCH_PG_PORT or 55320):
for each size and encoding, a filings file of N valid rows (UTF-8, and GB18030) is loaded twice —
``COPY … FROM STDIN (FORMAT csv)`` into an untyped (all-text), logged table, and ``ingest_drop``
(pre-scan and hash, archive copy, COPY into the work table, every contract check set-wise in SQL,
typed insert into raw.tax__filings with its indexes, rejects, ANALYZE). Each measurement runs in a
fresh child process so its peak RSS is its own (``ru_maxrss``).

Run: ``zxt bench-filings --rows 1000000 --rows 10000000`` (figures go to docs/benchmarks.md).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from zxt.core import identifiers
from zxt.core.settings import Settings, get_settings

DROP = date(2026, 11, 12)
ENTERPRISES = 200_000  # a province's pool of filers; each files several periods and tax types
TAX_TYPES = ("VAT", "CIT", "IIT_WH", "STAMP")
HEADER = "uscc,tax_type,period_start,period_end,filed_date,sales_amount,tax_payable,tax_paid\n"


@dataclass
class Measure:
    mode: str  # copy | ingest
    encoding: str
    rows: int
    bytes: int
    seconds: float
    rows_loaded: int
    peak_rss_mb: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


def settings() -> Settings:
    base = get_settings()
    home = base.paths.home / "bench-filings"
    return base.with_(
        paths__home=home,
        paths__landing_dir=home / "landing",
        paths__archive_dir=home / "archive",
        warehouse__embedded_port=int(os.environ.get("ZXT_BENCH_PG_PORT", "55320")),
    )


def _months(n: int) -> list[tuple[str, str, str]]:
    """(period_start, period_end, filed_date) for the n months before the drop date."""
    out = []
    y, m = DROP.year, DROP.month
    for _ in range(n):
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
        ny, nm = (y, m + 1) if m < 12 else (y + 1, 1)
        end = date(ny, nm, 1).toordinal() - 1
        out.append(
            (date(y, m, 1).isoformat(), date.fromordinal(end).isoformat(), date(ny, nm, 10).isoformat())
        )
    return out


def write_file(path: Path, rows: int, encoding: str) -> Path:
    """N valid, distinct-key filings rows. Filings carry no Chinese text, so a GB18030 and a UTF-8
    file hold the same bytes; what differs is the declared encoding, hence PostgreSQL's conversion
    and our whole-file encoding checks."""
    marker = path.with_suffix(".done")
    if marker.exists() and path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    pool = [identifiers.make(f"91421381MA{i:07X}") for i in range(min(ENTERPRISES, rows))]
    combos = [(t, *p) for p in _months(rows // len(pool) // len(TAX_TYPES) + 2) for t in TAX_TYPES]
    with path.open("w", encoding=encoding, newline="") as fh:
        fh.write(HEADER)
        buf = []
        for i in range(rows):
            e, c = divmod(i, len(pool))
            tax, start, end, filed = combos[e]
            amount = 1000 + (i * 7919) % 900000
            buf.append(
                f"{pool[c]},{tax},{start},{end},{filed},{amount}.00,{amount // 13}.50,{amount // 13}.50\n"
            )
            if len(buf) == 50_000:
                fh.write("".join(buf))
                buf.clear()
        fh.write("".join(buf))
    marker.touch()
    return path


def measure(mode: str, path: Path, encoding: str, rows: int) -> Measure:
    """One measurement, in this process (the parent runs it in a child)."""
    from zxt.ingest import load
    from zxt.ingest.discovery import Drop
    from zxt.warehouse import server as warehouse

    s = settings()
    engine = warehouse.engine(s)
    if mode == "copy":
        with engine.begin() as conn:
            conn.execute(sa.text("drop table if exists public.bench_copy_untyped"))
            conn.execute(
                sa.text(
                    f"create table public.bench_copy_untyped ({', '.join(f'c{i} text' for i in range(8))})"
                )
            )
        pg_enc = {"utf-8": "UTF8", "gb18030": "GB18030"}[encoding]
        with engine.begin() as conn:
            cur = conn.connection.driver_connection.cursor()
            t = time.perf_counter()
            with (
                path.open("rb") as fh,
                cur.copy(
                    f"copy public.bench_copy_untyped from stdin (format csv, header true, encoding '{pg_enc}')"
                ) as cp,
            ):
                while chunk := fh.read(1 << 20):
                    cp.write(chunk)
            loaded = cur.rowcount
        seconds = time.perf_counter() - t
    else:
        import dataclasses
        import shutil

        from zxt.ingest import contracts

        shutil.rmtree(s.paths.archive, ignore_errors=True)  # the archive copy is part of the cost
        ds = dataclasses.replace(contracts.get("tax/filings"), encoding=encoding)
        t = time.perf_counter()
        results = load.ingest_drop(Drop("tax/filings", DROP, path.parent), s, ds)
        seconds = time.perf_counter() - t
        [r] = results
        if r.status != "loaded" or r.rows_rejected:
            raise RuntimeError(
                f"benchmark file not loaded clean: {r.status} {r.reason} {r.rows_rejected} rejected"
            )
        loaded = r.rows_loaded
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return Measure(mode, encoding, rows, path.stat().st_size, seconds, loaded, rss)


def run(
    sizes: list[int],
    encodings: tuple[str, ...] = ("utf-8", "gb18030"),
    report: Callable[[Measure], None] | None = None,
) -> list[Measure]:
    """Every measurement; ``report`` sees each as soon as it is taken (long runs)."""
    from zxt.warehouse import migrate
    from zxt.warehouse import server as warehouse

    s = settings()
    warehouse.start(s)
    engine = warehouse.engine(s)
    out: list[Measure] = []
    for rows in sizes:
        for encoding in encodings:
            with engine.begin() as conn:  # a clean warehouse each time: a first load of the drop
                schemas = conn.execute(
                    sa.text(
                        "select nspname from pg_namespace where nspname not like 'pg\\_%' "
                        "and nspname not in ('information_schema', 'public')"
                    )
                ).scalars()
                for schema in list(schemas):
                    conn.execute(sa.text(f'drop schema "{schema}" cascade'))
            migrate.forget_checks()
            migrate.upgrade(engine)
            folder = s.paths.landing / "tax/filings" / DROP.isoformat()
            for old in folder.glob("*.csv") if folder.exists() else []:
                old.unlink()
            # ASCII content: one file serves both encodings (the declared encoding differs).
            data = s.paths.home / "files" / f"filings_{rows}.csv"
            write_file(data, rows, "ascii")
            link = folder / "filings.csv"
            folder.mkdir(parents=True, exist_ok=True)
            os.link(data, link)  # same file, no copy: the landing zone holds a hard link
            for mode in ("copy", "ingest"):
                child = subprocess.run(
                    [sys.executable, "-m", "zxt_sandbox.bench_filings", mode, str(link), encoding, str(rows)],
                    capture_output=True,
                    text=True,
                    env=os.environ.copy(),
                    check=False,
                )
                if child.returncode:
                    raise RuntimeError(child.stderr[-3000:])
                out.append(Measure(**json.loads(child.stdout.strip().splitlines()[-1])))
                if report is not None:
                    report(out[-1])
            link.unlink()
    return out


if __name__ == "__main__":
    mode, path, encoding, rows = sys.argv[1:5]
    m = measure(mode, Path(path), encoding, int(rows))
    print(json.dumps(asdict(m)))
