"""Stage reminders: the published date's ``marts.reminder_candidates`` → ``delivery.outbox`` rows.

The decision (who, by which channel, which template, until when) is the dbt model; this only
upserts it. The idempotency key (taxpayer, reminder type, subject, channel, recipient) makes
rerunning a date, or the next day's run for the same open warning, add nothing. Each row carries
its own ``channel``; the relay sends it through that channel.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from zxt.core.settings import Settings, get_settings
from zxt.warehouse import migrate
from zxt.warehouse import server as warehouse

log = logging.getLogger(__name__)

CANDIDATES = "marts.reminder_candidates"

UPSERT_SQL = f"""
insert into delivery.outbox (idempotency_key, as_of_date, uscc, reminder_type, subject, channel, recipient,
                             template_code, provider_template_id, template_params, valid_from, valid_until)
select idempotency_key, as_of_date, uscc, reminder_type, subject, channel, recipient,
       template_code, provider_template_id, template_params, valid_from, valid_until
from {CANDIDATES}
where as_of_date = :as_of
order by priority nulls last, valid_until, idempotency_key
on conflict (idempotency_key) do nothing
"""


class CandidatesMissing(RuntimeError):
    """The dbt model has not been built (for this date)."""


@dataclass
class StageResult:
    as_of_date: str
    staged: int
    total_for_date: int
    by_channel: dict[str, int]


def stage_reminders(as_of: date, settings: Settings | None = None) -> StageResult:
    settings = settings or get_settings()
    engine = warehouse.engine(settings, role="delivery")
    migrate.ensure_current(engine)
    with engine.begin() as conn:
        if conn.execute(sa.text("select to_regclass(:t)"), {"t": CANDIDATES}).scalar() is None:
            raise CandidatesMissing(f"{CANDIDATES} does not exist: run `zxt dbt build -d {as_of}` first")
        inserted = conn.execute(sa.text(UPSERT_SQL), {"as_of": as_of}).rowcount
        by_channel = dict(
            conn.execute(
                sa.text("select channel, count(*) from delivery.outbox where as_of_date = :d group by 1"),
                {"d": as_of},
            ).all()
        )
    log.info("outbox: %d reminder(s) staged for %s", inserted, as_of)
    return StageResult(as_of.isoformat(), inserted, sum(by_channel.values()), by_channel)
