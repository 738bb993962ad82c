"""Calibrate the mart gates' row-count band on the synthetic county (figures in docs/benchmarks.md).

Builds every gated mart for each date of a range on its own warehouse (<ZXT_HOME>/calibration, port
ZXT_CALIBRATION_PG_PORT, 54359) and reports, per mart, how far a day's rows move from the median of
the previous ``history`` days: the band's low/high ratios must sit outside what legitimate days do.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, field
from datetime import date, timedelta

import sqlalchemy as sa

from zxt.core import mart_registry
from zxt.core.settings import Settings, get_settings
from zxt.ingest import load as ingest
from zxt.transform import dbt_runner
from zxt.warehouse import server as warehouse
from zxt_sandbox import synth


@dataclass
class MartSeries:
    mart: str
    counts: dict[date, int] = field(default_factory=dict)

    def ratios(self, history: int) -> list[tuple[date, float]]:
        days = sorted(self.counts)
        out = []
        for i in range(history, len(days)):
            median = statistics.median(self.counts[d] for d in days[i - history : i])
            if median:
                out.append((days[i], self.counts[days[i]] / median))
        return out


def calibration_settings() -> Settings:
    base = get_settings()
    home = base.paths.home / "calibration"
    return base.with_(
        paths__home=home,
        paths__landing_dir=home / "landing",
        paths__archive_dir=home / "archive",
        warehouse__embedded_port=int(os.environ.get("ZXT_CALIBRATION_PG_PORT", "54359")),
    )


def run(start: date, end: date, enterprises: int = 2000, seed: int = 42) -> list[MartSeries]:
    settings = calibration_settings()
    marker = settings.paths.landing / f".calibration-{enterprises}-{seed}-{start}-{end}"
    if not marker.exists():
        synth.generate(settings.paths.landing, start, end, enterprises=enterprises, seed=seed)
        marker.touch()
    engine = warehouse.engine(settings)
    registry = mart_registry.load(settings)
    series = [MartSeries(m.name) for m in registry]
    dbt_runner.invoke(["seed"], settings=settings)
    day = start
    while day <= end:
        ingest.ingest_until(day, settings)
        dbt_runner.invoke(
            ["run", "--select", *(f"+{m}" for m in registry.names)], as_of=day, settings=settings
        )
        with engine.connect() as conn:
            for s, m in zip(series, registry, strict=True):
                s.counts[day] = int(
                    conn.execute(
                        sa.text(f"select count(*) from {m.relation} where {m.partition} = :d"), {"d": day}
                    ).scalar()
                )
        day += timedelta(days=1)
    return series
