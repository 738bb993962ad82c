"""The outreach relay: claim due outbox rows, send them through their channel, record outcomes.

Runs only 08:00–21:00 Asia/Shanghai, as one or several workers at once (each a process calling
``run_relay``; they share nothing but the warehouse). A worker:

1. expires rows past their validity and turns ``sending`` rows of dead workers into ``unknown``;
2. claims up to ``claim_size`` due rows with a lease (``claims``);
3. screens them in a few set-wise queries: opt-outs and the suppression list *now* (a person may
   opt out after staging), warnings resolved since (a newer published date without the warning),
   templates with forbidden wording for the channel;
4. asks each row's channel (``channels.registry``) to split the rest into requests, and for up to
   ``requests_in_flight`` requests at a time: waits for the channel's per-second rate, reserves
   each recipient's daily cap and marks the rows ``sending`` (one durable transaction), sends the
   requests, and records every answer (one durable transaction) — see ``claims`` for the states.

A send whose outcome is unknown is never retried: receipts reconcile it. A request that never left
costs no attempt; repeated ones pause the channel (``limits``).
"""

from __future__ import annotations

import csv
import logging
import os
import random
import secrets
import socket
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from zxt.core import failpoints
from zxt.core.settings import BUREAU_TZ, PROJECT_ROOT, Settings, get_settings
from zxt.delivery import claims, limits
from zxt.delivery.channels import registry
from zxt.delivery.channels.base import ANSWERED, MAYBE_SENT, Channel, Message, MessageResult, NotSent, Outcome
from zxt.warehouse import migrate
from zxt.warehouse import server as warehouse

log = logging.getLogger(__name__)

BACKOFF_BASE = timedelta(minutes=2)
NOT_SENT_DELAY = timedelta(seconds=30)
FORBIDDEN_WORDING_SEED = PROJECT_ROOT / "dbt_project" / "seeds" / "forbidden_wording.csv"


def forbidden_words(channel: str) -> tuple[str, ...]:
    """Words a channel's messages may never contain (the forbidden_wording seed)."""
    with FORBIDDEN_WORDING_SEED.open(encoding="utf-8") as fh:
        return tuple(r["word"] for r in csv.DictReader(fh) if r["channel"] == channel)


@dataclass
class RelayStats:
    now: str
    in_window: bool
    worker: str = ""
    claimed: int = 0
    expired: int = 0
    requests: int = 0
    outcomes: Counter = field(default_factory=Counter)


def in_send_window(now: datetime, settings: Settings) -> bool:
    local = now.astimezone(BUREAU_TZ)
    return settings.delivery.send_window_start_hour <= local.hour < settings.delivery.send_window_end_hour


def _backoff(attempt: int) -> timedelta:
    # Exponential backoff with full jitter.
    return timedelta(seconds=random.uniform(0, BACKOFF_BASE.total_seconds() * 2 ** max(attempt - 1, 0)))


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


# Opt-outs known now, whatever date the reminder was staged for: the suppression list, or a latest
# consent event that is an opt-out (index contact__consents__latest: one probe per number).
OPTED_OUT_SQL = """
select v.id from unnest(cast(:ids as bigint[]), cast(:channels as text[]), cast(:recipients as text[]))
  as v (id, channel, recipient)
where exists (select 1 from delivery.suppression s where s.channel = v.channel and s.recipient = v.recipient)
   or (select c.event_type from raw.contact__consents c
       where c.contact_mobile = v.recipient and c.channel = v.channel
       order by c.event_date desc, c.event_id desc limit 1) = 'opt_out'
"""

# A newer published date of credit_warning without this warning means it was resolved (filed).
CLOSED_SQL = """
with latest as (select max(as_of_date) as d from ops.publish_marts where mart = 'credit_warning')
select v.id
from unnest(cast(:ids as bigint[]), cast(:staged as date[]), cast(:usccs as text[]), cast(:types as text[]),
            cast(:subjects as text[])) as v (id, staged_for, uscc, reminder_type, subject)
cross join latest
where latest.d > v.staged_for
  and not exists (
      select 1 from marts.credit_warning w
      where w.as_of_date = latest.d and w.uscc = v.uscc and w.warning_type = v.reminder_type
        and w.subject = v.subject
  )
"""


def run_relay(
    now: datetime | None = None,
    settings: Settings | None = None,
    channels: dict[str, Channel] | None = None,
    limit: int | None = None,
    worker: str | None = None,
) -> RelayStats:
    """Send what is due now; ``now`` fixes the bureau's clock (tests), else it is read per claim."""
    settings = settings or get_settings()
    fixed_now = now is not None
    now = (now or settings.clock.now()).astimezone(BUREAU_TZ)
    stats = RelayStats(
        now=now.isoformat(), in_window=in_send_window(now, settings), worker=worker or worker_id()
    )
    limit = limit if limit is not None else 1_000_000
    engine = warehouse.engine(settings, role="delivery")
    migrate.ensure_current(engine)
    with claims.worker_session(engine) as conn:
        stats.expired, interrupted = claims.expire_and_sweep(conn, now)
        stats.outcomes["interrupted"] += interrupted
        if not stats.in_window:
            log.info(
                "relay: %s is outside the %02d:00–%02d:00 send window; nothing sent",
                now,
                settings.delivery.send_window_start_hour,
                settings.delivery.send_window_end_hour,
            )
            return stats
        templates = _templates(conn)
        if templates is None:
            log.info("relay: no message templates yet (no nightly run has built the rules); nothing to send")
            return stats
        worker = _Worker(conn, settings, stats, channels if channels is not None else {}, templates)
        try:
            while stats.claimed < limit:
                if not fixed_now:
                    now = settings.clock.now().astimezone(BUREAU_TZ)
                if not in_send_window(now, settings):
                    break
                rows = claims.claim(
                    conn,
                    stats.worker,
                    now,
                    min(settings.delivery.claim_size, limit - stats.claimed),
                    settings.delivery.lease_s,
                )
                if not rows:
                    break
                stats.claimed += len(rows)
                failpoints.hit("relay.after_claim")
                worker.deliver(rows, now)
        finally:
            worker.close()
            try:
                if conn.in_transaction():
                    conn.rollback()
                claims.release(conn, stats.worker)
            except sa.exc.DBAPIError:  # the warehouse is gone: the leases run out on their own
                log.warning(
                    "relay %s: could not give back its leased rows; they return when the lease ends",
                    stats.worker,
                )
    log.info(
        "relay %s at %s: claimed %d, %d request(s), expired %d, outcomes %s",
        stats.worker,
        now,
        stats.claimed,
        stats.requests,
        stats.expired,
        dict(stats.outcomes),
    )
    return stats


def _templates(conn: sa.Connection) -> dict[tuple[str, str], str] | None:
    if conn.execute(sa.text("select to_regclass('rules.message_templates')")).scalar() is None:
        conn.rollback()
        return None
    rows = conn.execute(sa.text("select template_code, channel, text_zh from rules.message_templates")).all()
    conn.rollback()
    return {(code, channel): text for code, channel, text in rows}


class _Worker:
    def __init__(
        self,
        conn: sa.Connection,
        settings: Settings,
        stats: RelayStats,
        channels: dict[str, Channel],
        templates: dict[tuple[str, str], str],
    ) -> None:
        self.conn = conn
        self.settings = settings
        self.stats = stats
        self.channels = channels
        self.templates = templates
        self._forbidden: dict[str, tuple[str, ...]] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._created: list[Channel] = []
        self._known: set[str] = set()

    def channel(self, name: str) -> Channel:
        if name not in self.channels:
            self.channels[name] = registry.get(name, self.settings)
            self._created.append(self.channels[name])
        if name not in self._known:
            with self.conn.begin():
                limits.ensure_state(self.conn, name)
            self._known.add(name)
        return self.channels[name]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
        for ch in self._created:
            ch.close()

    # --- screening ----------------------------------------------------------------------------
    def screen(self, rows: Sequence[sa.RowMapping]) -> list[sa.RowMapping]:
        """Settle rows that must not be sent after all; the rest go on."""
        ids = [r["outbox_id"] for r in rows]
        self.conn.begin()
        opted_out = set(
            self.conn.execute(
                sa.text(OPTED_OUT_SQL),
                {
                    "ids": ids,
                    "channels": [r["channel"] for r in rows],
                    "recipients": [r["recipient"] for r in rows],
                },
            ).scalars()
        )
        closed: set[int] = set()
        if self.conn.execute(sa.text("select to_regclass('marts.credit_warning')")).scalar() is not None:
            closed = set(
                self.conn.execute(
                    sa.text(CLOSED_SQL),
                    {
                        "ids": ids,
                        "staged": [r["as_of_date"] for r in rows],
                        "usccs": [r["uscc"] for r in rows],
                        "types": [r["reminder_type"] for r in rows],
                        "subjects": [r["subject"] for r in rows],
                    },
                ).scalars()
            )
        settled: list[tuple[int, str, str, str]] = []
        keep = []
        for r in rows:
            rid, ch = r["outbox_id"], r["channel"]
            if ch not in registry.CHANNELS:
                settled.append((rid, "failed", "ZXT.UnknownChannel", f"no channel named {ch!r}"))
                self.stats.outcomes["unknown_channel"] += 1
            elif rid in opted_out:
                settled.append((rid, "suppressed", "ZXT.OptedOut", "opted out before sending"))
                self.stats.outcomes["suppressed"] += 1
            elif rid in closed:
                settled.append(
                    (rid, "expired", "ZXT.WarningClosed", "no longer in the latest published warnings")
                )
                self.stats.outcomes["closed"] += 1
            # The template's own wording is checked: a taxpayer's name may legitimately contain 银行 or 贷.
            elif any(w in self.templates.get((r["template_code"], ch), "") for w in self._words(ch)):
                settled.append((rid, "failed", "ZXT.ForbiddenWording", f"{ch} text mentions finance wording"))
                self.stats.outcomes["forbidden"] += 1
            else:
                keep.append(r)
        claims.finish(self.conn, self.stats.worker, settled)
        self.conn.commit()
        return keep

    def _words(self, channel: str) -> tuple[str, ...]:
        if channel not in self._forbidden:
            self._forbidden[channel] = forbidden_words(channel)
        return self._forbidden[channel]

    # --- sending ------------------------------------------------------------------------------
    def deliver(self, rows: Sequence[sa.RowMapping], now: datetime) -> None:
        rows = self.screen(rows)
        by_channel: dict[str, list[sa.RowMapping]] = {}
        for r in rows:
            by_channel.setdefault(r["channel"], []).append(r)
        for name, channel_rows in by_channel.items():
            self._deliver_channel(self.channel(name), channel_rows, now)

    def _deliver_channel(self, channel: Channel, rows: list[sa.RowMapping], now: datetime) -> None:
        by_id = {r["outbox_id"]: r for r in rows}
        messages = []
        for r in rows:
            try:
                params = channel.sanitise(r["template_params"])
            except (TypeError, ValueError) as exc:  # unusable parameters: nothing was sent
                with self.conn.begin():
                    claims.finish(
                        self.conn, self.stats.worker, [(r["outbox_id"], "failed", "ZXT.BadParams", str(exc))]
                    )
                self.stats.outcomes["bad_params"] += 1
                continue
            messages.append(
                Message(
                    r["outbox_id"], r["recipient"], r["provider_template_id"], params, r["idempotency_key"]
                )
            )
        requests = channel.batches(messages)
        in_flight = max(1, self.settings.delivery.requests_in_flight)
        while requests:
            group, rest = _disjoint_group(requests, in_flight)
            grant = limits.take_rate(
                self.conn, channel.name, sum(len(b) for b in group), channel.max_per_second
            )
            paused = grant.paused(now)
            if paused is not None:
                # Another worker (or our last answer) paused the channel: give the rest back.
                left = [m.outbox_id for group in requests for m in group]
                with self.conn.begin():
                    claims.requeue(
                        self.conn, self.stats.worker, left, paused, "ZXT.ChannelPaused", "channel paused"
                    )
                self.stats.outcomes["requeued_paused"] += len(left)
                return
            requests = rest
            self._send_group(channel, group, by_id, now)

    def _send_group(
        self, channel: Channel, group: list[list[Message]], by_id: dict[int, sa.RowMapping], now: datetime
    ) -> None:
        d = self.settings.delivery
        worker = self.stats.worker
        day = limits.bureau_day(now)
        with self.conn.begin():
            ids = [m.outbox_id for b in group for m in b]
            marked = claims.mark_sending(self.conn, worker, ids, now, d.lease_s)
            recipients = [m.recipient for b in group for m in b if m.outbox_id in marked]
            allowed = limits.reserve(
                self.conn, channel.name, recipients, day, channel.max_per_recipient_per_day
            )
            capped = [
                m.outbox_id for b in group for m in b if m.outbox_id in marked and m.recipient not in allowed
            ]
            claims.requeue(
                self.conn,
                worker,
                capped,
                limits.next_window_start(now, self.settings),
                "ZXT.DailyCap",
                "per-recipient daily cap reached",
            )
        self.stats.outcomes["capped"] += len(capped)
        sendable = [[m for m in b if m.outbox_id in marked and m.recipient in allowed] for b in group]
        sendable = [b for b in sendable if b]
        if not sendable:
            return
        answers = self._send_all(channel, sendable)
        failpoints.hit("relay.after_answer")
        self.stats.requests += len(sendable)

        recorded: list[claims.Recorded] = []
        suppress: list[tuple[str, str]] = []
        give_back: list[str] = []
        tally = _Tally()
        for batch, results in zip(sendable, answers, strict=True):
            tally.add(results, now, self.settings)
            by_msg = {r.outbox_id: r for r in results}
            for m in batch:
                res = by_msg.get(m.outbox_id) or MessageResult(
                    m.outbox_id, Outcome.UNKNOWN, "ZXT.NoResult", "the channel returned no result for it"
                )
                rec = self._transition(channel, by_id[m.outbox_id], res, now)
                recorded.append(rec)
                self.stats.outcomes["dead" if rec.status == "dead" else str(res.outcome)] += 1
                if res.outcome == Outcome.SUPPRESS:
                    suppress.append((m.recipient, res.code))
                if not rec.maybe_sent:
                    give_back.append(m.recipient)
        with self.conn.begin():
            limits.give_back(self.conn, channel.name, give_back, day)
            paused = limits.record_health(self.conn, channel.name, tally.result(), now, self.settings)
            claims.record(self.conn, worker, channel.name, recorded, suppress, now)
        if paused is not None:
            log.warning("relay: channel %s paused until %s", channel.name, paused.isoformat())

    def _send_all(self, channel: Channel, batches: list[list[Message]]) -> list[list[MessageResult]]:
        if len(batches) == 1:
            return [_send_one(channel, batches[0])]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.settings.delivery.requests_in_flight)
        return list(self._pool.map(lambda b: _send_one(channel, b), batches))

    def _transition(
        self, channel: Channel, row: sa.RowMapping, res: MessageResult, now: datetime
    ) -> claims.Recorded:
        """The outbox state (and when to try again) for one answer."""
        allowed = row["attempts_allowed"] or self.settings.delivery.max_attempts
        attempt = row["attempts"] + 1
        o = res.outcome
        next_at: datetime | None = None
        counted = o not in (Outcome.NOT_SENT, Outcome.RESCHEDULE, Outcome.PAUSE)
        if o == Outcome.SUBMITTED:
            status = "submitted"
        elif o == Outcome.SUPPRESS:
            status = "suppressed"
        elif o == Outcome.RESCHEDULE:
            wait = channel.retry_after(res)
            status, next_at = (
                "queued",
                res.not_before
                or (now + wait if wait is not None else limits.next_window_start(now, self.settings)),
            )
        elif o == Outcome.PAUSE:
            status, next_at = "queued", res.not_before or limits.next_window_start(now, self.settings)
        elif o == Outcome.NOT_SENT:
            status, next_at = "queued", now + NOT_SENT_DELAY
        elif o == Outcome.RETRY:
            status, next_at = ("dead", None) if attempt >= allowed else ("queued", now + _backoff(attempt))
        elif o == Outcome.UNKNOWN:
            status = "unknown"
        else:
            status = "failed"
        return claims.Recorded(
            outbox_id=row["outbox_id"],
            status=status,
            counted=counted,
            maybe_sent=o in MAYBE_SENT,
            next_at=next_at,
            code=res.code,
            message=None if status == "submitted" else res.message,
            provider_id=res.provider_id if o == Outcome.SUBMITTED else None,
            request_id=res.request_id,
            attempt=attempt if counted else row["attempts"],
        )


def _send_one(channel: Channel, batch: list[Message]) -> list[MessageResult]:
    try:
        return channel.send_batch(batch)
    except NotSent as exc:
        # Refused before leaving (a template or parameter error): back to the queue, and it costs an
        # attempt, so a row that can never go ends dead (and replayable) instead of looping.
        return [MessageResult(m.outbox_id, Outcome.RETRY, "ZXT.NotSent", str(exc)) for m in batch]
    except Exception as exc:  # the request may have left: reconcile, never resend
        log.exception("relay: channel %s failed mid-request", channel.name)
        return [
            MessageResult(m.outbox_id, Outcome.UNKNOWN, "ZXT.ChannelError", type(exc).__name__) for m in batch
        ]


def _disjoint_group(requests: list[list[Message]], n: int) -> tuple[list[list[Message]], list[list[Message]]]:
    """Up to ``n`` requests with no recipient in common (one daily-cap reservation each), and the rest."""
    group: list[list[Message]] = []
    seen: set[str] = set()
    rest: list[list[Message]] = []
    for req in requests:
        recipients = {m.recipient for m in req}
        if len(group) < n and not recipients & seen:
            group.append(req)
            seen |= recipients
        else:
            rest.append(req)
    return group, rest


class _Tally:
    def __init__(self) -> None:
        self.answered = 0
        self.failed = 0
        self.failure_code = ""
        self.quota_until: datetime | None = None
        self.quota_reason = ""

    def add(self, results: list[MessageResult], now: datetime, settings: Settings) -> None:
        outcomes = {r.outcome for r in results}
        if outcomes & ANSWERED:
            self.answered += 1
        # Our own refusals (ZXT.*) say nothing about the provider's health.
        elif outcomes <= {Outcome.NOT_SENT, Outcome.RETRY} and not results[0].code.startswith("ZXT."):
            self.failed += 1
            self.failure_code = results[0].code
        for r in results:
            if r.outcome == Outcome.PAUSE:
                self.quota_reason = r.code
                self.quota_until = r.not_before or limits.next_window_start(now, settings)

    def result(self) -> limits.RequestTally:
        return limits.RequestTally(
            self.answered, self.failed, self.failure_code, self.quota_until, self.quota_reason
        )
