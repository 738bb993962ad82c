"""The warehouse build lease: one run at a time rebuilds the shared layers.

Staging views and intermediate tables hold one business date at a time, so two nights building at
once (a backfill with several active runs, or a backfill beside the scheduled night) would mix
dates. Each run takes the lease before its dbt build and gives it back after, whatever the dialog's
"max active runs" says. A holder whose run has ended without releasing (killed, marked failed) is
stale: the next run takes over after asking the caller's ``is_stale``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lease:
    holder: str
    as_of_date: date
    acquired_at: datetime


def current(engine: sa.Engine) -> Lease | None:
    with engine.connect() as conn:
        row = conn.execute(sa.text("select holder, as_of_date, acquired_at from ops.build_lease")).first()
    return Lease(*row) if row else None


def acquire(
    engine: sa.Engine, holder: str, as_of: date, is_stale: Callable[[str], bool] = lambda _h: False
) -> Lease | None:
    """Take the lease for ``holder``; ``None`` when taken, else the other holder's lease (try later)."""
    with engine.begin() as conn:
        # Row lock on the single lease row (or the insert race settled by the primary key).
        row = conn.execute(
            sa.text("select holder, as_of_date, acquired_at from ops.build_lease for update")
        ).first()
        if row is None:
            inserted = conn.execute(
                sa.text(
                    "insert into ops.build_lease (holder, as_of_date) values (:h, :d) on conflict do nothing"
                ),
                {"h": holder, "d": as_of},
            ).rowcount
            return None if inserted else current(engine)
        if row.holder == holder:  # our own lease (a retried or cleared task)
            return None
        if not is_stale(row.holder):
            return Lease(*row)
        log.warning("build lease of %s (%s) is stale: taken over by %s", row.holder, row.as_of_date, holder)
        conn.execute(
            sa.text("update ops.build_lease set holder = :h, as_of_date = :d, acquired_at = now()"),
            {"h": holder, "d": as_of},
        )
        return None


def release(engine: sa.Engine, holder: str) -> bool:
    """Give the lease back (only the holder can); True when it was held."""
    with engine.begin() as conn:
        return bool(
            conn.execute(sa.text("delete from ops.build_lease where holder = :h"), {"h": holder}).rowcount
        )
