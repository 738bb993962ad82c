"""Differential check: the synthetic county's published ratings come from a plain-Python reading
of the rules (synth.rules); the dbt engine must reproduce them.

A county is generated whose first drop is the publication day P of evaluation year Y (Y+1-04-25),
so the warehouse knows exactly what the bureau knew that day. credit_outlook is built for
as_of_date = P with evaluation_year = Y and compared, enterprise by enterprise, with the published
rating of Y (level and score).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa

from zxt.core.settings import Settings
from zxt.ingest import load as ingest
from zxt.transform import dbt_runner
from zxt.warehouse import migrate
from zxt.warehouse import server as warehouse
from zxt_sandbox import synth


@dataclass
class Agreement:
    year: int
    enterprises: int
    rated: int  # enterprises with a published rating of the year
    level_agree: int
    both_agree: int  # level and score
    mismatches: list[tuple] = field(default_factory=list)  # (uscc, published level, score, dbt level, score)
    by_level: dict[str, int] = field(default_factory=dict)  # published shares

    @property
    def rate(self) -> float:
        return self.both_agree / self.rated if self.rated else 0.0


def run(settings: Settings, enterprises: int, year: int = 2025, seed: int = 42) -> Agreement:
    published = date(year + 1, 4, 25)
    engine = warehouse.engine(settings)
    _empty(engine)
    migrate.forget_checks()
    migrate.upgrade(engine)
    landing = settings.paths.landing
    marker = landing / f".differential-{enterprises}-{seed}-{published}"
    if not marker.exists():
        synth.generate(landing, published, published, enterprises=enterprises, seed=seed)
        marker.touch()
    ingest.ingest_until(published, settings)
    # Its own target path: the check may run beside other dbt runs of the same project.
    target = ["--target-path", str(settings.paths.home / "dbt-target-differential")]
    dbt_runner.invoke(["seed", *target], settings=settings)
    dbt_runner.invoke(
        ["run", "--select", "+credit_outlook", *target],
        as_of=published,
        settings=settings,
        extra_vars={"evaluation_year": year},
    )
    return compare(engine, published, year, enterprises)


def compare(engine: sa.Engine, as_of: date, year: int, enterprises: int) -> Agreement:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                """select r.uscc, r.credit_level, r.score, o.projected_level, o.projected_score
                   from stg.stg_credit__ratings as r
                   left join marts.credit_outlook as o
                     on o.uscc = r.uscc and o.as_of_date = :d and o.evaluation_year = r.evaluation_year
                   where r.evaluation_year = :y
                   order by r.uscc"""
            ),
            {"d": as_of, "y": year},
        ).all()
    result = Agreement(year=year, enterprises=enterprises, rated=len(rows), level_agree=0, both_agree=0)
    for uscc, level, score, dbt_level, dbt_score in rows:
        result.by_level[level] = result.by_level.get(level, 0) + 1
        same_level = level == dbt_level
        same_score = dbt_score is not None and abs(float(score) - float(dbt_score)) < 0.05
        result.level_agree += same_level
        result.both_agree += same_level and same_score
        if not (same_level and same_score):
            result.mismatches.append(
                (uscc, level, float(score), dbt_level, None if dbt_score is None else float(dbt_score))
            )
    return result


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
