"""Delivery receipts: what became of a message the provider accepted.

Three sources, one table (``delivery.receipts``, one row per provider message id): Tencent's status
callback (a JSON array), ``PullSmsSendStatus`` (which also echoes our SessionContext = outbox id, so a
send whose answer was lost — status ``unknown``, no serial — is still settled) and WeChat's
``TEMPLATESENDJOBFINISH`` events. Recording is an upsert: a receipt reported twice is kept once.

``apply`` then moves ``submitted`` / ``unknown`` outbox rows to ``delivered`` / ``failed``; a receipt
that arrives before the relay has recorded its send waits for the next pass. A failed delivery
falls back to the contact's other channel (``fallback``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from zxt.core.settings import BUREAU_TZ
from zxt.delivery import fallback

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Receipt:
    channel: str
    provider_message_id: str
    delivered: bool
    code: str
    description: str
    user_received_at: datetime | None
    session_context: str = ""  # SMS pull: "zxt:<outbox id>" (+n for a batch)
    recipient: str = ""  # to check the session context against; never stored


def from_sms_callback(items: Iterable[Mapping[str, Any]]) -> list[Receipt]:
    """Tencent's pushed array of ``{user_receive_time, nationcode, mobile, report_status, errmsg,
    description, sid}``; ``user_receive_time`` is Beijing time ``YYYY-MM-DD HH:MM:SS``."""
    out = []
    for item in items:
        received = None
        if item.get("user_receive_time"):
            received = datetime.strptime(str(item["user_receive_time"]), "%Y-%m-%d %H:%M:%S").replace(
                tzinfo=BUREAU_TZ
            )
        out.append(
            Receipt(
                "sms",
                str(item["sid"]),
                str(item["report_status"]).upper() == "SUCCESS",
                str(item.get("errmsg") or ""),
                str(item.get("description") or ""),
                received,
                recipient=str(item.get("mobile") or ""),
            )
        )
    return out


def from_sms_pull(items: Iterable[Mapping[str, Any]]) -> list[Receipt]:
    """``PullSmsSendStatusSet`` items (UserReceiveTime is a Unix timestamp)."""
    out = []
    for item in items:
        ts = item.get("UserReceiveTime")
        out.append(
            Receipt(
                "sms",
                str(item["SerialNo"]),
                str(item["ReportStatus"]).upper() == "SUCCESS",
                str(item.get("Description") or ""),
                "",
                datetime.fromtimestamp(int(ts), BUREAU_TZ) if ts else None,
                session_context=str(item.get("SessionContext") or ""),
                recipient=str(item.get("SubscriberNumber") or ""),
            )
        )
    return out


def from_wechat_event(msgid: str, status: str, created: int, openid: str) -> Receipt:
    """``TEMPLATESENDJOBFINISH``: Status ``success``, ``failed:user block`` or ``failed: system failed``."""
    ok = status.strip() == "success"
    return Receipt(
        "wechat",
        str(msgid),
        ok,
        "success" if ok else status.split(":", 1)[-1].strip(),
        status,
        datetime.fromtimestamp(created, BUREAU_TZ) if ok else None,
        recipient=openid,
    )


RECORD_SQL = """
insert into delivery.receipts (channel, provider_message_id, outbox_id, report_status, code, description,
                               user_received_at, via)
select x.channel, x.id,
       -- SMS pull: the session context ("zxt:<outbox id>[+n]") names the row, trusted only for the
       -- same number; else the recipient's only send whose answer was lost (no provider id).
       coalesce(ctx.outbox_id, lone.outbox_id),
       x.status, x.code, x.description, x.received, :via
from jsonb_to_recordset(cast(:items as jsonb))
     as x(channel text, id text, status text, code text, description text, received timestamptz,
          ctx text, recipient text)
left join delivery.outbox ctx
  on x.channel = 'sms'
     and ctx.outbox_id = (case when x.ctx ~ '^zxt:[0-9]{1,18}' then cast(substring(x.ctx from '^zxt:([0-9]+)') as bigint) end)
     and ctx.channel = 'sms' and ctx.recipient = x.recipient
-- Otherwise: the recipient's only message on this channel still waiting for an answer.
left join lateral (
    select min(o.outbox_id) as outbox_id from delivery.outbox o
    where x.recipient <> '' and o.channel = x.channel and o.recipient = x.recipient
      and o.status = 'unknown' and o.provider_message_id is null
    having count(*) = 1
) lone on true
on conflict (channel, provider_message_id) do update
  set last_seen_at = now(), times_seen = delivery.receipts.times_seen + 1,
      outbox_id = coalesce(delivery.receipts.outbox_id, excluded.outbox_id)
returning (xmax = 0) as inserted
"""


def record(conn: sa.Connection, receipts: list[Receipt], via: str) -> int:
    """Store receipts (idempotent); returns how many were new."""
    if not receipts:
        return 0
    items = [
        {
            "channel": r.channel,
            "id": r.provider_message_id,
            "status": "delivered" if r.delivered else "failed",
            "code": r.code,
            "description": r.description,
            "received": r.user_received_at.isoformat() if r.user_received_at else None,
            "ctx": r.session_context,
            "recipient": r.recipient,
        }
        for r in receipts
    ]
    rows = conn.execute(sa.text(RECORD_SQL), {"items": json.dumps(items), "via": via}).scalars().all()
    return sum(1 for inserted in rows if inserted)


APPLY_SQL = """
with pending as (
    select r.channel, r.provider_message_id, r.report_status, r.code, r.user_received_at,
           coalesce(byid.outbox_id, r.outbox_id) as outbox_id
    from delivery.receipts r
    left join delivery.outbox byid
      on byid.channel = r.channel and byid.provider_message_id = r.provider_message_id
    where r.applied_at is null
      -- A push settles just what it carried (index lookups); a feedback run, everything pending.
      and (cast(:only as text[]) is null or r.provider_message_id = any(cast(:only as text[])))
),
matched as (
    select p.*, o.status as outbox_status, o.provider_message_id as outbox_provider_id
    from pending p
    join delivery.outbox o on o.outbox_id = p.outbox_id
    -- A row still being sent has not recorded its send yet: its receipt waits for the next pass.
    where o.status not in ('queued', 'sending')
      and (o.provider_message_id is null or o.provider_message_id = p.provider_message_id)
),
settled as (
    update delivery.outbox o
    set status = m.report_status,
        provider_message_id = m.provider_message_id,
        delivered_at = case when m.report_status = 'delivered' then coalesce(m.user_received_at, now()) end,
        receipt_code = m.code,
        last_error_code = case when m.report_status = 'failed' then 'Receipt.' || m.code else o.last_error_code end,
        updated_at = now()
    from matched m
    where o.outbox_id = m.outbox_id and o.status in ('submitted', 'unknown')
    returning o.outbox_id, m.outbox_status as was, o.status
),
marked as (
    update delivery.receipts r set applied_at = now(), outbox_id = m.outbox_id
    from matched m
    where r.channel = m.channel and r.provider_message_id = m.provider_message_id
)
select outbox_id, was, status from settled
"""


@dataclass
class Applied:
    delivered: int = 0
    failed: int = 0
    reconciled_unknown: int = 0
    fallbacks: int = 0


def apply(conn: sa.Connection, now: datetime, only: list[Receipt] | None = None) -> Applied:
    """Settle outbox rows from their receipts (all pending, or ``only`` these); a failed delivery
    falls back to the other channel."""
    ids = None if only is None else [r.provider_message_id for r in only]
    rows = conn.execute(sa.text(APPLY_SQL), {"only": ids}).all()
    out = Applied()
    failed = []
    for outbox_id, was, status in rows:
        if status == "delivered":
            out.delivered += 1
        else:
            out.failed += 1
            failed.append(outbox_id)
        if was == "unknown":
            out.reconciled_unknown += 1
    out.fallbacks = fallback.create(conn, failed, now)
    if rows:
        log.info(
            "receipts: %d delivered, %d failed (%d were unknown), %d fallbacks",
            out.delivered,
            out.failed,
            out.reconciled_unknown,
            out.fallbacks,
        )
    return out
