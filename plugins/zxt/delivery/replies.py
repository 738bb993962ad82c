"""Taxpayers' replies to our texts (Tencent reply callback / ``PullSmsReplyStatus``).

An opt-out ("R", "TD", "退订", as the templates' "拒收请回复R" invites) puts the number on the SMS
suppression list in the same transaction that records the reply, and suppresses its queued texts at
once; the relay checks the list again at send time. The provider gives a reply no id: it is keyed by
a hash of number, time and text, so a reply pushed and then pulled is kept once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from zxt.core.settings import BUREAU_TZ

log = logging.getLogger(__name__)

OPT_OUT_REPLIES = frozenset({"R", "TD", "退订"})


def is_opt_out(text: str) -> bool:
    """ "R", "td", "ＴＤ", " 退订。" — case, full-width forms, spaces and punctuation do not matter."""
    folded = unicodedata.normalize("NFKC", text).upper()
    core = "".join(ch for ch in folded if not (ch.isspace() or unicodedata.category(ch).startswith("P")))
    return core in OPT_OUT_REPLIES


@dataclass(frozen=True)
class Reply:
    mobile: str
    text: str
    replied_at: datetime

    @property
    def key(self) -> str:
        raw = f"sms|{self.mobile}|{int(self.replied_at.timestamp())}|{self.text}"
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def from_callback(doc: Mapping[str, Any]) -> Reply:
    """``{extend, mobile, nationcode, sign, text, time}`` (time: Unix seconds)."""
    return Reply(str(doc["mobile"]), str(doc["text"]), datetime.fromtimestamp(int(doc["time"]), BUREAU_TZ))


def from_pull(items: Iterable[Mapping[str, Any]]) -> list[Reply]:
    """``PullSmsReplyStatusSet`` items."""
    return [
        Reply(
            str(i.get("SubscriberNumber") or str(i["PhoneNumber"]).removeprefix("+86")),
            str(i["ReplyContent"]),
            datetime.fromtimestamp(int(i["ReplyTime"]), BUREAU_TZ),
        )
        for i in items
    ]


RECORD_SQL = """
insert into delivery.replies (reply_key, channel, recipient, reply_text, replied_at, opt_out, via)
select x.key, 'sms', x.mobile, x.text, x.replied_at, x.opt_out, :via
from jsonb_to_recordset(cast(:items as jsonb))
     as x(key text, mobile text, text text, replied_at timestamptz, opt_out boolean)
on conflict (reply_key) do nothing
returning recipient, opt_out
"""


@dataclass
class Recorded:
    new: int = 0
    opt_outs: int = 0
    suppressed_queued: int = 0


def record(conn: sa.Connection, replies: list[Reply], via: str) -> Recorded:
    """Store replies (idempotent) and act on opt-outs at once."""
    out = Recorded()
    if not replies:
        return out
    items = [
        {
            "key": r.key,
            "mobile": r.mobile,
            "text": r.text,
            "replied_at": r.replied_at.isoformat(),
            "opt_out": is_opt_out(r.text),
        }
        for r in replies
    ]
    new = conn.execute(sa.text(RECORD_SQL), {"items": json.dumps(items), "via": via}).all()
    out.new = len(new)
    opted = sorted({mobile for mobile, opt_out in new if opt_out})
    out.opt_outs = len(opted)
    if opted:
        conn.execute(
            sa.text(
                """insert into delivery.suppression (channel, recipient, reason)
                   select 'sms', m, 'opt-out reply' from unnest(cast(:m as text[])) as m
                   on conflict do nothing"""
            ),
            {"m": opted},
        )
        out.suppressed_queued = conn.execute(
            sa.text(
                """update delivery.outbox set status = 'suppressed', last_error_code = 'ZXT.OptedOut',
                       last_error_message = 'opt-out reply', updated_at = now()
                   where channel = 'sms' and recipient = any(cast(:m as text[])) and status = 'queued'"""
            ),
            {"m": opted},
        ).rowcount
        # Counts only: numbers are personal data.
        log.info("replies: %d opt-out(s); %d queued text(s) suppressed", out.opt_outs, out.suppressed_queued)
    return out
