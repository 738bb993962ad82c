"""Limits shared by every relay worker, kept in the warehouse (no worker trusts its own memory):

- the per-recipient daily cap (``delivery.recipient_day``): reserved before a request, given back
  when nothing went out, so concurrent workers can never exceed it and ``unknown`` counts;
- the per-second rate of a channel (``delivery.channel_state`` window): a one-row token window;
- the channel's pause: a provider quota (until its reset) or the circuit breaker (after
  ``breaker_threshold`` requests in a row that reached no provider; doubling pauses, and the
  first answer closes it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from zxt.core.settings import BUREAU_TZ, Settings

ENSURE_STATE = "insert into delivery.channel_state (channel) values (:ch) on conflict do nothing"

# A fresh second always admits the request (even one larger than the limit, or it would never go).
RATE_SQL = """
with t as (select date_trunc('second', clock_timestamp()) as s)
update delivery.channel_state c
set window_used = case when c.window_start = t.s then c.window_used + :n else :n end,
    window_start = t.s
from t
where c.channel = :ch and (c.window_start is distinct from t.s or c.window_used + :n <= :limit)
returning c.window_start, c.paused_until
"""

RESERVE_SQL = """
insert into delivery.recipient_day as d (channel, recipient, day, sent)
select :ch, r, :day, 1 from (select distinct unnest(cast(:recipients as text[])) as r) as v
on conflict (channel, recipient, day) do update set sent = d.sent + 1 where d.sent < :cap
returning d.recipient
"""

GIVE_BACK_SQL = """
update delivery.recipient_day d set sent = greatest(d.sent - v.n, 0)
from (select r, count(*) as n from unnest(cast(:recipients as text[])) as r group by r) as v
where d.channel = :ch and d.day = :day and d.recipient = v.r
"""

# One statement per recorded group of requests; it touches the row only when something changed.
BREAKER_SQL = """
update delivery.channel_state c set
  consecutive_failures = case when :answered then 0 else c.consecutive_failures + :failed end,
  paused_until = case
    when cast(:quota_until as timestamptz) is not null
      then greatest(coalesce(c.paused_until, cast(:quota_until as timestamptz)), cast(:quota_until as timestamptz))
    when not :answered and c.consecutive_failures + :failed >= :threshold
      then cast(:now as timestamptz) + make_interval(secs => least(
        cast(:max_pause as double precision),
        :base_pause * power(2, c.consecutive_failures + :failed - :threshold)))
    when :answered and c.pause_reason like 'circuit%' then null
    else c.paused_until
  end,
  pause_reason = case
    when cast(:quota_until as timestamptz) is not null then :quota_reason
    when not :answered and c.consecutive_failures + :failed >= :threshold
      then 'circuit open: ' || :failure_code
    when :answered and c.pause_reason like 'circuit%' then null
    else c.pause_reason
  end,
  updated_at = now()
where c.channel = :ch
  and (:failed > 0 or cast(:quota_until as timestamptz) is not null
       or c.consecutive_failures > 0 or c.pause_reason like 'circuit%')
returning c.paused_until
"""


def bureau_day(now: datetime) -> date:
    return now.astimezone(BUREAU_TZ).date()


def ensure_state(conn: sa.Connection, channel: str) -> None:
    conn.execute(sa.text(ENSURE_STATE), {"ch": channel})


@dataclass(frozen=True)
class RateGrant:
    window_start: datetime  # the second the messages were counted in
    paused_until: datetime | None  # the channel's pause, if any (another worker may have set it)

    def paused(self, now: datetime) -> datetime | None:
        return self.paused_until if self.paused_until is not None and self.paused_until > now else None


def take_rate(conn: sa.Connection, channel: str, n: int, per_second: int) -> RateGrant:
    """Wait until ``n`` messages fit into the channel's current second, across all workers."""
    while True:
        granted = conn.execute(sa.text(RATE_SQL), {"ch": channel, "n": n, "limit": per_second}).first()
        conn.commit()
        if granted is not None:
            return RateGrant(granted.window_start, granted.paused_until)
        time.sleep(max(0.001, 1.0 - (time.time() % 1.0)))


def reserve(conn: sa.Connection, channel: str, recipients: list[str], day: date, cap: int) -> set[str]:
    """Count one message for each (distinct) recipient unless it is at its cap; the ones counted."""
    if not recipients:
        return set()
    rows = conn.execute(
        sa.text(RESERVE_SQL), {"ch": channel, "recipients": recipients, "day": day, "cap": cap}
    ).scalars()
    return set(rows)


def give_back(conn: sa.Connection, channel: str, recipients: list[str], day: date) -> None:
    """Undo ``reserve`` for messages that certainly did not go out."""
    if recipients:
        conn.execute(sa.text(GIVE_BACK_SQL), {"ch": channel, "recipients": recipients, "day": day})


@dataclass(frozen=True)
class RequestTally:
    """What a group of requests says about the channel's health."""

    answered: int = 0  # requests the provider answered (whatever it said)
    failed: int = 0  # requests that reached no provider, or that it refused as transient
    failure_code: str = ""
    quota_until: datetime | None = None  # a provider quota paused the channel until then
    quota_reason: str = ""


def record_health(
    conn: sa.Connection, channel: str, tally: RequestTally, now: datetime, settings: Settings
) -> datetime | None:
    """Update the breaker and quota pause; returns the channel's paused_until (None: open)."""
    d = settings.delivery
    row = conn.execute(
        sa.text(BREAKER_SQL),
        {
            "ch": channel,
            "answered": tally.answered > 0,
            "failed": tally.failed,
            "failure_code": tally.failure_code,
            "quota_until": tally.quota_until,
            "quota_reason": tally.quota_reason,
            "threshold": d.breaker_threshold,
            "base_pause": d.breaker_pause_s,
            "max_pause": d.breaker_max_pause_s,
            "now": now,
        },
    ).first()
    until = row.paused_until if row is not None else None
    return until if until is not None and until > now else None


def next_window_start(now: datetime, settings: Settings) -> datetime:
    local = now.astimezone(BUREAU_TZ)
    start = local.replace(hour=settings.delivery.send_window_start_hour, minute=0, second=0, microsecond=0)
    return start if local < start else start + timedelta(days=1)
