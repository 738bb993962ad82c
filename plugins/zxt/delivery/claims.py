"""The outbox state machine in SQL: claim with a lease, mark ``sending`` just before a request,
record answers, give rows back.

    queued ─claim (lease)─▶ queued+lease ─mark─▶ sending ─answer─▶ submitted ─receipt─▶ delivered | failed
       ▲                         │                  │                 (channel said) ─▶ failed | suppressed
       └──── lease ends / ◀──────┘                  ├─ no answer, or lease ended ─▶ unknown (never resent)
             not sent, capped,                      └─ transient, attempts used up ─▶ dead (zxt outbox replay)
             rescheduled, paused                 queued past valid_until ─▶ expired

Only the worker holding a row's lease may mark or record it; a row is ``sending`` only while its
own request may be in flight, so a crash turns exactly those rows ``unknown``. A worker's connection
(``worker_session``) runs with ``synchronous_commit = on`` (the embedded warehouse defaults to off
for loading speed): an accepted send is on disk before the next request leaves.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from zxt.core import failpoints

# Session settings of a relay worker's connection, reset when it goes back to the pool. psycopg
# prepares a statement after five runs, and PostgreSQL's generic plan for the array joins below
# guesses their size and scans the whole outbox: plan each run for its arrays.
SESSION = {"synchronous_commit": "on", "plan_cache_mode": "force_custom_plan"}

EXPIRE_SQL = """
update delivery.outbox set status = 'expired', lease_owner = null, lease_until = null, updated_at = now()
where status = 'queued' and valid_until <= :now
"""

# The request of a 'sending' row whose worker is gone may have left: reconcile, never resend.
SWEEP_SQL = """
update delivery.outbox set status = 'unknown', last_error_code = 'ZXT.RelayInterrupted',
       last_error_message = 'the relay stopped after marking it sending', updated_at = now()
where status = 'sending' and lease_until < clock_timestamp()
"""

CLAIM_SQL = """
update delivery.outbox o
set lease_owner = :worker, lease_until = clock_timestamp() + make_interval(secs => :lease_s)
where o.outbox_id in (
    select q.outbox_id from delivery.outbox q
    where q.status = 'queued'
      and q.valid_from <= :now and q.valid_until > :now
      and (q.next_attempt_at is null or q.next_attempt_at <= :now)
      and (q.lease_until is null or q.lease_until < clock_timestamp())
      and not exists (
          select 1 from delivery.channel_state c where c.channel = q.channel and c.paused_until > :now
      )
    order by q.valid_until, q.outbox_id
    for update skip locked
    limit :limit
)
returning o.outbox_id, o.channel, o.idempotency_key, o.recipient, o.provider_template_id, o.template_code,
          o.template_params, o.attempts, o.attempts_allowed, o.as_of_date, o.uscc, o.reminder_type, o.subject
"""

MARK_SENDING_SQL = """
update delivery.outbox
set status = 'sending', sent_at = :now, updated_at = now(),
    lease_until = clock_timestamp() + make_interval(secs => :lease_s)
where outbox_id = any(cast(:ids as bigint[])) and lease_owner = :worker and status = 'queued'
returning outbox_id
"""

# Back to the queue without an attempt (capped, not sent, paused, screened out before sending …).
REQUEUE_SQL = """
update delivery.outbox o
set status = 'queued', sent_at = null, next_attempt_at = :next_at, last_error_code = coalesce(:code, o.last_error_code),
    last_error_message = coalesce(:message, o.last_error_message),
    lease_owner = null, lease_until = null, updated_at = now()
where o.outbox_id = any(cast(:ids as bigint[])) and o.lease_owner = :worker and o.status in ('queued', 'sending')
"""

RELEASE_SQL = """
update delivery.outbox set lease_owner = null, lease_until = null
where lease_owner = :worker and status = 'queued'
"""

RECORD_SQL = """
update delivery.outbox o set
  status = v.status,
  attempts = o.attempts + case when v.counted then 1 else 0 end,
  next_attempt_at = v.next_at,
  last_error_code = v.code,
  last_error_message = v.message,
  provider_message_id = coalesce(v.provider_id, o.provider_message_id),
  submitted_at = case when v.status = 'submitted' then cast(:now as timestamptz) else o.submitted_at end,
  sent_at = case when v.maybe_sent then o.sent_at end,
  lease_owner = null, lease_until = null, updated_at = now()
from unnest(
  cast(:ids as bigint[]), cast(:statuses as text[]), cast(:counted as boolean[]),
  cast(:next_at as timestamptz[]), cast(:codes as text[]), cast(:messages as text[]),
  cast(:provider_ids as text[]), cast(:maybe_sent as boolean[])
) as v (id, status, counted, next_at, code, message, provider_id, maybe_sent)
where o.outbox_id = v.id and o.lease_owner = :worker and o.status in ('sending', 'unknown')
"""

ATTEMPTS_SQL = """
insert into delivery.send_attempts (outbox_id, attempt, request_id, code, outcome)
select * from unnest(
  cast(:ids as bigint[]), cast(:attempts as integer[]), cast(:request_ids as text[]),
  cast(:codes as text[]), cast(:statuses as text[])
)
on conflict do nothing
"""

SUPPRESS_SQL = """
insert into delivery.suppression (channel, recipient, reason)
select :ch, r, c from unnest(cast(:recipients as text[]), cast(:codes as text[])) as v (r, c)
on conflict do nothing
"""

FINISH_SQL = """
update delivery.outbox o
set status = v.status, last_error_code = v.code, last_error_message = v.message,
    lease_owner = null, lease_until = null, updated_at = now()
from unnest(cast(:ids as bigint[]), cast(:statuses as text[]), cast(:codes as text[]), cast(:messages as text[]))
  as v (id, status, code, message)
where o.outbox_id = v.id and o.lease_owner = :worker and o.status = 'queued'
"""


@contextmanager
def worker_session(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection whose every commit is durable, for one relay worker."""
    with engine.connect() as conn:
        for name, value in SESSION.items():
            conn.execute(sa.text(f"set {name} = {value}"))
        conn.commit()
        try:
            yield conn
        finally:
            if conn.in_transaction():
                conn.rollback()
            try:
                for name in SESSION:
                    conn.execute(sa.text(f"reset {name}"))
                conn.commit()
            except sa.exc.DBAPIError:  # the server is gone: the pool discards the connection
                conn.invalidate()


@dataclass(frozen=True)
class Recorded:
    """The new state of one row after its request's answer."""

    outbox_id: int
    status: str
    counted: bool  # the attempt counts towards attempts_allowed
    maybe_sent: bool  # the message may be on its way (keeps its daily-cap reservation)
    next_at: datetime | None
    code: str | None
    message: str | None
    provider_id: str | None
    request_id: str | None
    attempt: int  # the attempt number after this answer


def expire_and_sweep(conn: sa.Connection, now: datetime) -> tuple[int, int]:
    with conn.begin():
        expired = conn.execute(sa.text(EXPIRE_SQL), {"now": now}).rowcount
        interrupted = conn.execute(sa.text(SWEEP_SQL)).rowcount
    return expired, interrupted


def claim(conn: sa.Connection, worker: str, now: datetime, limit: int, lease_s: float) -> list[sa.RowMapping]:
    with conn.begin():
        return list(
            conn.execute(
                sa.text(CLAIM_SQL), {"worker": worker, "now": now, "limit": limit, "lease_s": lease_s}
            )
            .mappings()
            .all()
        )


def mark_sending(
    conn: sa.Connection, worker: str, ids: Sequence[int], now: datetime, lease_s: float
) -> set[int]:
    """Inside the caller's durable transaction: the rows (still ours) whose request leaves next."""
    return set(
        conn.execute(
            sa.text(MARK_SENDING_SQL), {"ids": list(ids), "worker": worker, "now": now, "lease_s": lease_s}
        ).scalars()
    )


def requeue(
    conn: sa.Connection,
    worker: str,
    ids: Sequence[int],
    next_at: datetime | None,
    code: str | None = None,
    message: str | None = None,
) -> None:
    if ids:
        conn.execute(
            sa.text(REQUEUE_SQL),
            {"ids": list(ids), "worker": worker, "next_at": next_at, "code": code, "message": message},
        )


def release(conn: sa.Connection, worker: str) -> None:
    """Give back every queued row this worker still leases (the end of a run, or an error)."""
    with conn.begin():
        conn.execute(sa.text(RELEASE_SQL), {"worker": worker})


def finish(conn: sa.Connection, worker: str, rows: Sequence[tuple[int, str, str, str]]) -> None:
    """Settle leased rows that were screened out before sending: (id, status, code, message)."""
    if rows:
        ids, statuses, codes, messages = (list(x) for x in zip(*rows, strict=True))
        conn.execute(
            sa.text(FINISH_SQL),
            {"ids": ids, "statuses": statuses, "codes": codes, "messages": messages, "worker": worker},
        )


def record(
    conn: sa.Connection,
    worker: str,
    channel: str,
    rows: Sequence[Recorded],
    suppress: Sequence[tuple[str, str]],
    now: datetime,
) -> None:
    """Inside the caller's durable transaction: the answers of a group of requests."""
    if rows:
        conn.execute(
            sa.text(RECORD_SQL),
            {
                "worker": worker,
                "now": now,
                "ids": [r.outbox_id for r in rows],
                "statuses": [r.status for r in rows],
                "counted": [r.counted for r in rows],
                "next_at": [r.next_at for r in rows],
                "codes": [r.code for r in rows],
                "messages": [r.message for r in rows],
                "provider_ids": [r.provider_id for r in rows],
                "maybe_sent": [r.maybe_sent for r in rows],
            },
        )
        counted = [r for r in rows if r.counted]
        if counted:
            conn.execute(
                sa.text(ATTEMPTS_SQL),
                {
                    "ids": [r.outbox_id for r in counted],
                    "attempts": [r.attempt for r in counted],
                    "request_ids": [r.request_id for r in counted],
                    "codes": [r.code for r in counted],
                    "statuses": [r.status for r in counted],
                },
            )
    if suppress:
        conn.execute(
            sa.text(SUPPRESS_SQL),
            {"ch": channel, "recipients": [r for r, _ in suppress], "codes": [c for _, c in suppress]},
        )
    failpoints.hit("relay.before_commit")
