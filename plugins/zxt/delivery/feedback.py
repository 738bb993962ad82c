"""The feedback run (DAG ``zxt_feedback``, every 15 minutes, and ``zxt feedback run``).

1. pull SMS receipts and replies the callbacks may have missed (PullSmsSendStatus / PullSmsReplyStatus);
2. settle ``submitted`` / ``unknown`` outbox rows from every receipt held (callback or pull), and
   queue the other channel for messages that failed for good (a failed receipt, or a permanent
   error at send time: 43004 not a follower, a wrong number …) while their window is open;
3. mark for phone follow-up each reminder no channel confirmed delivered within its validity window;
4. recompute per-channel delivery rates of recent business dates into ``ops.delivery_rates``.

Every step is idempotent: a rerun pulls only what is new and rewrites the same rates.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from zxt.core.settings import BUREAU_TZ, Settings, get_settings
from zxt.delivery import fallback, receipts, replies
from zxt.delivery.channels import tencent_sms_pull as pull
from zxt.warehouse import migrate
from zxt.warehouse import server as warehouse

log = logging.getLogger(__name__)


@dataclass
class FeedbackStats:
    now: str
    receipts_pulled: int = 0
    receipts_new: int = 0
    replies_pulled: int = 0
    opt_outs: int = 0
    applied: dict = field(default_factory=dict)
    fallbacks: int = 0
    followups_marked: int = 0
    rates: list[dict] = field(default_factory=list)
    pull_errors: list[str] = field(default_factory=list)


FOLLOWUP_SQL = """
insert into delivery.followups (uscc, reminder_type, subject, as_of_date, valid_until, last_statuses)
select uscc, reminder_type, subject, max(as_of_date), max(valid_until),
       string_agg(channel || ':' || status, ', ' order by outbox_id)
from delivery.outbox
where valid_until > cast(:now as timestamptz) - interval '30 days'
group by uscc, reminder_type, subject
-- Every channel's window is over and none delivered (a receipt still missing counts as unconfirmed).
having max(valid_until) <= :now and not bool_or(status = 'delivered')
on conflict (uscc, reminder_type, subject) do update
  set last_statuses = excluded.last_statuses, valid_until = excluded.valid_until, as_of_date = excluded.as_of_date
  where delivery.followups.done_at is null and delivery.followups.valid_until < excluded.valid_until
"""

RATES_SQL = """
insert into ops.delivery_rates (as_of_date, channel, sent, delivered, failed, unknown, refused, awaiting_receipt,
                                delivery_rate, computed_at)
select as_of_date, channel, sent, delivered, failed, unknown, refused, awaiting,
       round(delivered::numeric / nullif(sent, 0), 4), now()
from (
    select as_of_date, channel,
           count(*) filter (where provider_message_id is not null or status = 'unknown') as sent,
           count(*) filter (where status = 'delivered') as delivered,
           count(*) filter (where status = 'failed' and provider_message_id is not null) as failed,
           count(*) filter (where status = 'unknown') as unknown,
           count(*) filter (where status in ('failed', 'suppressed', 'dead') and provider_message_id is null)
             as refused,
           count(*) filter (where status = 'submitted') as awaiting
    from delivery.outbox
    where as_of_date >= :since
    group by as_of_date, channel
) c
on conflict (as_of_date, channel) do update
  set sent = excluded.sent, delivered = excluded.delivered, failed = excluded.failed,
      unknown = excluded.unknown, refused = excluded.refused, awaiting_receipt = excluded.awaiting_receipt,
      delivery_rate = excluded.delivery_rate, computed_at = excluded.computed_at
returning as_of_date, channel, sent, delivered, failed, unknown, refused, awaiting_receipt, delivery_rate
"""


def pull_sms(engine: sa.Engine, settings: Settings, stats: FeedbackStats) -> None:
    """Receipts and replies, page by page, each page recorded in its own transaction."""
    puller = pull.TencentSmsPuller(settings)
    limit, max_calls = settings.feedback.pull_limit, settings.feedback.max_pull_calls
    try:
        for _ in range(max_calls):
            page = puller.pull(pull.SEND_STATUS, limit)
            with engine.begin() as conn:
                stats.receipts_new += receipts.record(conn, receipts.from_sms_pull(page), "pull")
            stats.receipts_pulled += len(page)
            if len(page) < limit:
                break
        for _ in range(max_calls):
            page = puller.pull(pull.REPLY_STATUS, limit)
            with engine.begin() as conn:
                stats.opt_outs += replies.record(conn, replies.from_pull(page), "pull").opt_outs
            stats.replies_pulled += len(page)
            if len(page) < limit:
                break
    except pull.PullError as exc:
        # Settling from the callbacks' receipts, follow-ups and rates still run.
        log.warning("feedback: %s", exc)
        stats.pull_errors.append(str(exc))


def failed_without_fallback(conn: sa.Connection, now: datetime) -> list[int]:
    return list(
        conn.execute(
            sa.text(
                """select o.outbox_id from delivery.outbox o
                   where o.status = 'failed' and o.valid_until > :now
                     and not exists (select 1 from delivery.outbox f where f.fallback_of = o.outbox_id)"""
            ),
            {"now": now},
        ).scalars()
    )


def mark_followups(conn: sa.Connection, now: datetime) -> int:
    return conn.execute(sa.text(FOLLOWUP_SQL), {"now": now}).rowcount


def delivery_rates(conn: sa.Connection, since) -> list[dict]:
    return [dict(r._mapping) for r in conn.execute(sa.text(RATES_SQL), {"since": since})]


def run_feedback(
    now: datetime | None = None, settings: Settings | None = None, pull_provider: bool = True
) -> FeedbackStats:
    settings = settings or get_settings()
    now = (now or settings.clock.now()).astimezone(BUREAU_TZ)
    stats = FeedbackStats(now=now.isoformat())
    engine = warehouse.engine(settings, role="delivery")
    migrate.ensure_current(engine)
    if pull_provider:
        pull_sms(engine, settings, stats)
    with engine.begin() as conn:
        stats.applied = asdict(receipts.apply(conn, now))
    with engine.begin() as conn:
        stats.fallbacks = fallback.create(conn, failed_without_fallback(conn, now), now)
    with engine.begin() as conn:
        stats.followups_marked = mark_followups(conn, now)
        since = now.date() - timedelta(days=settings.feedback.rate_days)
        stats.rates = [
            {**r, "as_of_date": r["as_of_date"].isoformat(), "delivery_rate": _float(r["delivery_rate"])}
            for r in delivery_rates(conn, since)
        ]
    log.info(
        "feedback at %s: pulled %d receipts (%d new), %d replies (%d opt-outs); settled %s; %d follow-ups",
        now,
        stats.receipts_pulled,
        stats.receipts_new,
        stats.replies_pulled,
        stats.opt_outs,
        stats.applied,
        stats.followups_marked,
    )
    return stats


def _float(value) -> float | None:
    return None if value is None else float(value)
