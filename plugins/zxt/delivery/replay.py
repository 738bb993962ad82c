"""``zxt outbox replay``: put dead (or failed) reminders back in the queue after the cause is fixed.

Only rows that certainly never reached a person are replayed: ``dead`` rows (every attempt was
answered "not sent, try again") and ``failed`` ones (refused as permanent, e.g. an unapproved
template, now approved). A row that was ever accepted by a provider, or whose request may have
been (``unknown``, a provider id, an attempt recorded as submitted or unknown), is never replayed:
receipts settle it, a second text cannot be taken back. Each replayed row gets a fresh attempt
budget; its earlier attempts stay in ``delivery.send_attempts``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from zxt.core.settings import Settings, get_settings
from zxt.warehouse import migrate
from zxt.warehouse import server as warehouse

log = logging.getLogger(__name__)

REPLAYABLE = ("dead", "failed")

REPLAY_SQL = """
update delivery.outbox o
set status = 'queued', next_attempt_at = null, lease_owner = null, lease_until = null, sent_at = null,
    attempts_allowed = o.attempts + :budget, replayed_at = now(), updated_at = now()
where o.status = any(cast(:statuses as text[]))
  and (cast(:since as timestamptz) is null or o.updated_at >= cast(:since as timestamptz))
  and (cast(:channel as text) is null or o.channel = cast(:channel as text))
  and o.valid_until > :now
  and o.provider_message_id is null
  and o.submitted_at is null
  and not exists (
      select 1 from delivery.send_attempts a
      where a.outbox_id = o.outbox_id and a.outcome in ('submitted', 'unknown', 'delivered')
  )
returning o.outbox_id
"""

COUNT_SQL = """
select count(*) from delivery.outbox o
where o.status = any(cast(:statuses as text[]))
  and (cast(:since as timestamptz) is null or o.updated_at >= cast(:since as timestamptz))
  and (cast(:channel as text) is null or o.channel = cast(:channel as text))
"""


@dataclass
class ReplayResult:
    statuses: list[str]
    matched: int
    requeued: int
    # Matched but left alone: past their validity window, or possibly accepted once.
    left: int


def replay(
    statuses: list[str],
    since: datetime | None = None,
    channel: str | None = None,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> ReplayResult:
    """Requeue rows in ``statuses`` changed since ``since`` that are still valid at ``now``."""
    settings = settings or get_settings()
    bad = sorted(set(statuses) - set(REPLAYABLE))
    if bad or not statuses:
        raise ValueError(
            f"only {', '.join(REPLAYABLE)} reminders can be replayed, not {', '.join(bad) or 'nothing'}: "
            "an unknown, submitted or delivered one may have reached the person (receipts settle it)"
        )
    engine = warehouse.engine(settings, role="delivery")
    migrate.ensure_current(engine)
    params = {"statuses": statuses, "since": since, "channel": channel}
    with engine.begin() as conn:
        conn.execute(sa.text("set local synchronous_commit = on"))
        matched = conn.execute(sa.text(COUNT_SQL), params).scalar() or 0
        requeued = len(
            conn.execute(
                sa.text(REPLAY_SQL),
                {**params, "budget": settings.delivery.max_attempts, "now": now or settings.clock.now()},
            ).all()
        )
    log.info("outbox replay %s: %d matched, %d requeued", statuses, matched, requeued)
    return ReplayResult(list(statuses), int(matched), requeued, int(matched) - requeued)
