"""Benchmark: build every dbt model for one date on a county of N enterprises and report each
model's time from dbt's run_results.json beside one sequential scan of the raw tables, in the same
run (the scan calibrates the machine's speed at that moment: the box is shared).

Each county size gets its own warehouse state: the bench warehouse (<ZXT_HOME>/bench, port
ZXT_BENCH_PG_PORT) is emptied, the county generated (cached per size and seed), ingested (which
analyses the raw tables), then `dbt seed` and `dbt run` for the date. Results are written to
<ZXT_HOME>/bench/marts-<N>.json, so two sizes can be compared (`compare`).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from zxt.core.settings import Settings
from zxt.ingest import contracts
from zxt.ingest import load as ingest
from zxt.transform import dbt_runner
from zxt.warehouse import migrate
from zxt.warehouse import server as warehouse
from zxt_sandbox import synth
from zxt_sandbox.bench import bench_settings


@dataclass
class MartsBench:
    enterprises: int
    as_of: str
    raw_rows: dict[str, int]
    seq_scan_s: float  # one count(*) over every raw table, no parallel workers
    ingest_s: float
    dbt_run_s: float  # wall time of `dbt run` (all models)
    models: dict[str, float]  # model -> execution_time from run_results.json
    rows: dict[str, int]  # model -> rows in its relation (the date's partition for marts)


def _settings(enterprises: int) -> Settings:
    base = bench_settings()
    return base.with_(paths__landing_dir=base.paths.home / f"landing-{enterprises}")


def run(enterprises: int, seed: int = 42, as_of: date = date(2026, 11, 12)) -> MartsBench:
    settings = _settings(enterprises)
    engine = warehouse.engine(settings)
    _empty(engine)
    migrate.forget_checks()
    migrate.upgrade(engine)

    marker = settings.paths.landing / f".bench-{enterprises}-{seed}-{as_of}"
    if not marker.exists():
        synth.generate(settings.paths.landing, as_of, as_of, enterprises=enterprises, seed=seed)
        marker.touch()
    t = time.perf_counter()
    ingest.ingest_until(as_of, settings)  # analyses every raw table it loaded
    ingest_s = time.perf_counter() - t

    tables = [f"raw.{ds.raw_table}" for ds in contracts.load_contracts().values()]
    with engine.connect() as conn:
        conn.execute(sa.text("set max_parallel_workers_per_gather = 0"))
        t = time.perf_counter()
        raw_rows = {
            name: int(conn.execute(sa.text(f"select count(*) from {name}")).scalar() or 0) for name in tables
        }
        seq_scan_s = time.perf_counter() - t

    # Its own target path: a benchmark may run beside other dbt runs of the same project.
    target = ["--target-path", str(settings.paths.home / "dbt-target")]
    dbt_runner.invoke(["seed", *target], settings=settings)
    t = time.perf_counter()
    dbt_runner.invoke(["run", *target], as_of=as_of, settings=settings)
    dbt_run_s = time.perf_counter() - t
    results = json.loads((settings.paths.home / "dbt-target" / "run_results.json").read_text())
    models = {
        r["unique_id"].split(".")[-1]: round(r["execution_time"], 3)
        for r in results["results"]
        if r["unique_id"].startswith("model.")
    }
    rows: dict[str, int] = {}
    with engine.connect() as conn:
        for name in models:
            schema = conn.execute(
                sa.text(
                    "select table_schema from information_schema.tables where table_name = :n "
                    "and table_schema in ('stg', 'int', 'marts')"
                ),
                {"n": name},
            ).scalar()
            if schema is None:
                continue
            has_date = conn.execute(
                sa.text(
                    "select 1 from information_schema.columns where table_schema = :s and table_name = :n "
                    "and column_name = 'as_of_date'"
                ),
                {"s": schema, "n": name},
            ).scalar()
            where = " where as_of_date = :d" if has_date and schema == "marts" else ""
            rows[name] = int(
                conn.execute(sa.text(f'select count(*) from {schema}."{name}"{where}'), {"d": as_of}).scalar()
                or 0
            )
    bench = MartsBench(
        enterprises=enterprises,
        as_of=as_of.isoformat(),
        raw_rows=raw_rows,
        seq_scan_s=round(seq_scan_s, 3),
        ingest_s=round(ingest_s, 1),
        dbt_run_s=round(dbt_run_s, 1),
        models=models,
        rows=rows,
    )
    result_file(settings, enterprises).write_text(json.dumps(asdict(bench), indent=1), encoding="utf-8")
    return bench


def result_file(settings: Settings, enterprises: int) -> Path:
    return settings.paths.home / f"marts-{enterprises}.json"


def load(enterprises: int) -> MartsBench | None:
    path = result_file(bench_settings(), enterprises)
    return MartsBench(**json.loads(path.read_text(encoding="utf-8"))) if path.exists() else None


def compare(small: MartsBench, large: MartsBench) -> list[tuple[str, float, float, float]]:
    """(model, seconds small, seconds large, growth) for every model, slowest growth first."""
    out = []
    for name, t_small in small.models.items():
        t_large = large.models.get(name)
        if t_large is None:
            continue
        out.append((name, t_small, t_large, t_large / max(t_small, 0.001)))
    return sorted(out, key=lambda r: -r[3])


def _empty(engine: sa.Engine) -> None:
    """Drop every schema of this (sandbox) warehouse: the run starts from an empty one."""
    with engine.begin() as conn:
        schemas = conn.execute(
            sa.text(
                "select schema_name from information_schema.schemata "
                "where schema_name not like 'pg\\_%' and schema_name not in ('information_schema', 'public')"
            )
        ).scalars()
        for schema in list(schemas):
            conn.execute(sa.text(f'drop schema if exists "{schema}" cascade'))
