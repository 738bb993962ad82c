"""The outreach relay: claim due outbox rows, send them, record outcomes, retry by error class.

Runs only 08:00–21:00 Asia/Shanghai. Consent and the suppression list are checked again at send
time (a person may opt out after the reminder was queued). A send whose outcome is unknown is
never retried: receipts reconcile it.
"""

from __future__ import annotations

import csv
import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from zxt.core.settings import BUREAU_TZ, PROJECT_ROOT, Settings, get_settings
from zxt.delivery.channels import registry
from zxt.delivery.channels.base import Channel, Message, Outcome
from zxt.warehouse import migrate
from zxt.warehouse import server as warehouse

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
CLAIM_BATCH = 50
BACKOFF_BASE = timedelta(minutes=2)
FORBIDDEN_WORDING_SEED = PROJECT_ROOT / "dbt_project" / "seeds" / "forbidden_wording.csv"


def forbidden_words(channel: str) -> tuple[str, ...]:
    """Words a channel's messages may never contain (the forbidden_wording seed)."""
    with FORBIDDEN_WORDING_SEED.open(encoding="utf-8") as fh:
        return tuple(r["word"] for r in csv.DictReader(fh) if r["channel"] == channel)


@dataclass
class RelayStats:
    now: str
    in_window: bool
    claimed: int = 0
    expired: int = 0
    outcomes: Counter = field(default_factory=Counter)


def in_send_window(now: datetime, settings: Settings) -> bool:
    local = now.astimezone(BUREAU_TZ)
    return settings.delivery.send_window_start_hour <= local.hour < settings.delivery.send_window_end_hour


def _next_window_start(now: datetime, settings: Settings) -> datetime:
    local = now.astimezone(BUREAU_TZ)
    start = local.replace(hour=settings.delivery.send_window_start_hour, minute=0, second=0, microsecond=0)
    return start if local < start else start + timedelta(days=1)


def _clock(now: datetime, fixed: bool, settings: Settings) -> datetime:
    """The time for the next batch: the bureau's clock, unless the caller fixed "now" (tests)."""
    return now if fixed else settings.clock.now()


def _backoff(attempt: int) -> timedelta:
    # Exponential backoff with full jitter.
    return timedelta(seconds=random.uniform(0, BACKOFF_BASE.total_seconds() * 2 ** max(attempt - 1, 0)))


CLAIM_SQL = """
update delivery.outbox o set status = 'sending', attempts = attempts + 1, updated_at = now()
where o.outbox_id in (
    select outbox_id from delivery.outbox
    where status = 'queued'
      and valid_from <= :now and valid_until > :now
      and (next_attempt_at is null or next_attempt_at <= :now)
    order by valid_until, outbox_id
    for update skip locked
    limit :limit
)
returning o.outbox_id, o.channel, o.idempotency_key, o.recipient, o.provider_template_id, o.template_code, o.template_params, o.attempts,
          o.as_of_date, o.uscc, o.reminder_type, o.subject
"""

# Opt-outs known now, whatever date the reminder was staged for.
OPTED_OUT_SQL = """
select 1 from delivery.suppression where channel = :ch and recipient = :m
union all
select 1 from (
    select event_type from raw.contact__consents
    where contact_mobile = :m and channel = :ch
    order by event_date desc, event_id desc limit 1
) latest where event_type = 'opt_out'
"""

# A newer published date without this warning means it was resolved (the return was filed).
CLOSED_SQL = """
select 1 from ops.publish_log p
where p.as_of_date = (select max(as_of_date) from ops.publish_log)
  and p.as_of_date > :staged_for
  and not exists (
      select 1 from marts.credit_warning w
      where w.as_of_date = p.as_of_date and w.uscc = :uscc and w.warning_type = :rt and w.subject = :subj
  )
"""

SENT_TODAY_SQL = """
select count(*) from delivery.outbox
where recipient = :m and channel = :ch and status in ('submitted', 'delivered', 'unknown')
  and (submitted_at at time zone 'Asia/Shanghai')::date = (:now at time zone 'Asia/Shanghai')::date
"""


def run_relay(
    now: datetime | None = None,
    settings: Settings | None = None,
    channels: dict[str, Channel] | None = None,
    limit: int = 5000,
) -> RelayStats:
    settings = settings or get_settings()
    fixed_now = now is not None
    now = (now or settings.clock.now()).astimezone(BUREAU_TZ)
    stats = RelayStats(now=now.isoformat(), in_window=in_send_window(now, settings))
    engine = warehouse.engine(settings, role="delivery")
    migrate.ensure_current(engine)
    with engine.begin() as conn:
        stats.expired = conn.execute(
            sa.text(
                "update delivery.outbox set status = 'expired', updated_at = now() "
                "where status = 'queued' and valid_until <= :now"
            ),
            {"now": now},
        ).rowcount
    with engine.begin() as conn:
        # A relay that died mid-batch leaves rows in 'sending': whether the request left is
        # unknown, so they are reconciled from receipts rather than resent.
        stats.outcomes["interrupted"] += conn.execute(
            sa.text(
                "update delivery.outbox set status = 'unknown', last_error_code = 'ZXT.RelayInterrupted', "
                "updated_at = now() where status = 'sending' and updated_at < now() - interval '10 minutes'"
            )
        ).rowcount
    if not stats.in_window:
        log.info(
            "relay: %s is outside the %02d:00–%02d:00 send window; nothing sent",
            now,
            settings.delivery.send_window_start_hour,
            settings.delivery.send_window_end_hour,
        )
        return stats
    channels = channels if channels is not None else {}
    with engine.connect() as conn:
        if conn.execute(sa.text("select to_regclass('rules.message_templates')")).scalar() is None:
            log.info("relay: no message templates yet (no nightly run has built the rules); nothing to send")
            return stats
        templates = dict(
            conn.execute(sa.text("select template_code, text_zh from rules.message_templates")).all()
        )
    paused = False
    while not paused and stats.claimed < limit and in_send_window(_clock(now, fixed_now, settings), settings):
        # Small batches keep few rows in 'sending' should the process die.
        with engine.begin() as conn:
            batch = (
                conn.execute(
                    sa.text(CLAIM_SQL), {"now": now, "limit": min(CLAIM_BATCH, limit - stats.claimed)}
                )
                .mappings()
                .all()
            )
        if not batch:
            break
        stats.claimed += len(batch)
        paused = _send_batch(engine, channels, batch, templates, now, settings, stats)
    log.info(
        "relay at %s: claimed %d, expired %d, outcomes %s",
        now,
        stats.claimed,
        stats.expired,
        dict(stats.outcomes),
    )
    return stats


def _send_batch(
    engine: sa.Engine,
    channels: dict[str, Channel],
    batch: list[sa.RowMapping],
    templates: dict[str, str],
    now: datetime,
    settings: Settings,
    stats: RelayStats,
) -> bool:
    paused = False
    for row in batch:
        if paused:
            _finish(
                engine, row, "queued", None, None, "channel paused", next_at=_next_window_start(now, settings)
            )
            stats.outcomes["requeued_paused"] += 1
            continue
        channel = channels.get(row["channel"]) or channels.setdefault(
            row["channel"], registry.get(row["channel"], settings)
        )
        outcome = _send_one(engine, channel, row, templates, now, settings)
        stats.outcomes[outcome] += 1
        paused = outcome == Outcome.PAUSE
    return paused


def _send_one(
    engine: sa.Engine,
    channel: Channel,
    row: sa.RowMapping,
    templates: dict[str, str],
    now: datetime,
    settings: Settings,
) -> str:
    mobile, params = row["recipient"], channel.sanitise(row["template_params"])
    with engine.connect() as conn:
        if conn.execute(sa.text(OPTED_OUT_SQL), {"m": mobile, "ch": channel.name}).first():
            _finish(engine, row, "suppressed", "ZXT.OptedOut", "opted out before sending")
            return "suppressed"
        closed = {
            "staged_for": row["as_of_date"],
            "uscc": row["uscc"],
            "rt": row["reminder_type"],
            "subj": row["subject"],
        }
        has_marts = conn.execute(sa.text("select to_regclass('marts.credit_warning')")).scalar() is not None
        if has_marts and conn.execute(sa.text(CLOSED_SQL), closed).first():
            _finish(
                engine,
                row,
                "expired",
                "ZXT.WarningClosed",
                "no longer in the latest published warnings",
                count_attempt=False,
            )
            return "closed"
        if (
            conn.execute(sa.text(SENT_TODAY_SQL), {"m": mobile, "now": now, "ch": channel.name}).scalar()
            >= channel.max_per_recipient_per_day
        ):
            _finish(
                engine,
                row,
                "queued",
                "ZXT.DailyCap",
                "per-number daily cap reached",
                next_at=_next_window_start(now, settings),
                count_attempt=False,
            )
            return "capped"
    # The template's own wording is checked: a taxpayer's name may legitimately contain 银行 or 贷.
    if any(word in templates.get(row["template_code"], "") for word in forbidden_words(channel.name)):
        _finish(engine, row, "failed", "ZXT.ForbiddenWording", "SMS text mentions finance wording")
        return "forbidden"

    message = Message(row["outbox_id"], mobile, row["provider_template_id"], params, row["idempotency_key"])
    number = channel.send_batch([message])[0]
    outcome = number.outcome
    status, next_at = _next_state(outcome, number.code, row["attempts"], now, settings)
    if outcome == Outcome.SUPPRESS:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "insert into delivery.suppression (channel, recipient, reason) values (:ch, :m, :r) "
                    "on conflict do nothing"
                ),
                {"ch": channel.name, "m": mobile, "r": number.code},
            )
    _finish(
        engine,
        row,
        status,
        number.code,
        None if status == "submitted" else number.message,
        next_at=next_at,
        provider_id=number.provider_id if status == "submitted" else None,
        request_id=number.request_id,
        at=now,
    )
    return "dead" if status == "dead" else outcome


def _next_state(
    outcome: str, code: str, attempts: int, now: datetime, settings: Settings
) -> tuple[str, datetime | None]:
    """The outbox status (and when to try again) for one send outcome."""
    if outcome == Outcome.SUBMITTED:
        return "submitted", None
    if outcome == Outcome.SUPPRESS:
        return "suppressed", None
    if outcome == Outcome.RESCHEDULE:
        # A daily limit waits for the next send window; shorter limits for an hour.
        return "queued", _next_window_start(now, settings) if code.endswith(
            "DailyLimit"
        ) else now + timedelta(hours=1)
    if outcome == Outcome.PAUSE:
        return "queued", _next_window_start(now, settings)
    if outcome in (Outcome.RETRY, Outcome.NOT_SENT):
        return ("dead", None) if attempts >= MAX_ATTEMPTS else ("queued", now + _backoff(attempts))
    if outcome == Outcome.UNKNOWN:
        return "unknown", None
    return "failed", None


def _finish(
    engine: sa.Engine,
    row: sa.RowMapping,
    status: str,
    code: str | None,
    message: str | None,
    *,
    next_at: datetime | None = None,
    provider_id: str | None = None,
    request_id: str | None = None,
    count_attempt: bool = True,
    at: datetime | None = None,
) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                """update delivery.outbox set status = :s, last_error_code = :c, last_error_message = :m,
                       next_attempt_at = :n, provider_message_id = coalesce(:p, provider_message_id),
                       submitted_at = case when :s = 'submitted' then :at else submitted_at end,
                       attempts = attempts - case when :count then 0 else 1 end,
                       updated_at = now()
                   where outbox_id = :id"""
            ),
            {
                "s": status,
                "c": code,
                "m": message,
                "n": next_at,
                "p": provider_id,
                "id": row["outbox_id"],
                "count": count_attempt,
                "at": at,
            },
        )
        if count_attempt:
            conn.execute(
                sa.text(
                    """insert into delivery.send_attempts (outbox_id, attempt, request_id, code, outcome)
                       values (:id, :a, :r, :c, :o) on conflict do nothing"""
                ),
                {"id": row["outbox_id"], "a": row["attempts"], "r": request_id, "c": code, "o": status},
            )
