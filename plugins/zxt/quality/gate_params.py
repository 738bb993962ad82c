"""Expectation parameters of a mart gate run, above all the row-count band.

The band comes from the mart's own history: the median row count of its last published partitions
before the date, times [low, high]. It never scales with the data being judged (a registry cut to
40 % would otherwise shrink the band with it). Too little history: no band, recorded as such.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa

from zxt.core.identifiers import MOBILE_PATTERN
from zxt.core.mart_registry import GatedMart
from zxt.core.settings import Settings

# Small partitions move by a few rows a day; the band always allows this many either way.
ROW_SLACK = 10


@dataclass(frozen=True)
class RowBand:
    min_rows: int
    max_rows: int | None
    basis: dict[str, Any] = field(default_factory=dict)


def row_band(conn: sa.Connection, mart: GatedMart, as_of: date, settings: Settings) -> RowBand:
    q = settings.quality
    history = mart.row_band.history or q.row_history
    low = q.row_band_low if mart.row_band.low is None else mart.row_band.low
    high = q.row_band_high if mart.row_band.high is None else mart.row_band.high
    dates = [
        d
        for (d,) in conn.execute(
            sa.text(
                """select as_of_date from ops.publish_marts where mart = :m and as_of_date < :d
                   order by as_of_date desc limit :n"""
            ),
            {"m": mart.name, "d": as_of, "n": history},
        ).all()
    ]
    counts = dict.fromkeys(dates, 0)
    if dates:
        counts.update(
            conn.execute(
                sa.text(
                    f"select {mart.partition}, count(*) from {mart.relation} "
                    f"where {mart.partition} = any(:dates) group by 1"
                ),
                {"dates": dates},
            ).all()
        )
    partitions = {d.isoformat(): n for d, n in sorted(counts.items())}
    if len(dates) < q.row_min_history:
        return RowBand(
            0,
            None,
            {
                "basis": f"no band: {len(dates)} published partition(s) before {as_of}, "
                f"{q.row_min_history} needed",
                "partitions": partitions,
            },
        )
    median = statistics.median(counts.values())
    return RowBand(
        max(0, math.floor(median * low) - ROW_SLACK),
        math.ceil(median * high) + ROW_SLACK,
        {
            "basis": "median of published partitions",
            "median": median,
            "low": low,
            "high": high,
            "slack": ROW_SLACK,
            "partitions": partitions,
        },
    )


def parameters(
    conn: sa.Connection, mart: GatedMart, as_of: date, settings: Settings
) -> tuple[dict[str, Any], RowBand]:
    """$PARAMETER values for the mart's suite: computed ones, then the mart's static ``params``."""
    band = row_band(conn, mart, as_of, settings)
    params: dict[str, Any] = {
        "min_rows": band.min_rows,
        "max_rows": band.max_rows,
        "mobile_pattern": MOBILE_PATTERN,
        "as_of_date": as_of.isoformat(),
    }
    params.update(mart.params)
    return params, band
