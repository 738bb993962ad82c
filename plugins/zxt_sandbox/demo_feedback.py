"""The demo's delivery faults and the taxpayer's reply, played on the running simulators.

After the night has staged its reminders: two texts the carrier cannot deliver, one follower who
blocked the official account (the job-finish event says ``failed:user block``) and one who
unfollowed (43004) — each then falls back to the other channel. After the first relay run, one
taxpayer who got a text replies "R".
"""

from __future__ import annotations

import time

import requests
import sqlalchemy as sa

from zxt.core.settings import Settings
from zxt.delivery.channels.tencent_sms import mask_phone
from zxt.warehouse import server as warehouse

# Reminders whose contact can also be reached by SMS, so the fallback shows.
_WECHAT_WITH_MOBILE = """
select o.recipient from delivery.outbox o
join int.int_contacts__reachable c on c.uscc = o.uscc
where o.channel = 'wechat' and o.status = 'queued' and c.sms_reachable and zxt.is_mobile(c.contact_mobile)
order by o.outbox_id limit 2
"""
_SMS = "select recipient from delivery.outbox where channel = 'sms' and status = 'queued' order by outbox_id limit 2"


def inject_faults(settings: Settings) -> str:
    with warehouse.engine(settings).connect() as conn:
        openids = conn.execute(sa.text(_WECHAT_WITH_MOBILE)).scalars().all()
        mobiles = conn.execute(sa.text(_SMS)).scalars().all()
    sms = settings.sms.endpoint.rstrip("/")
    wechat = settings.wechat.endpoint.rstrip("/")
    requests.post(
        f"{sms}/_sim/faults", json={"undeliverable": {m: "UNDELIV" for m in mobiles}}, timeout=5
    ).raise_for_status()
    requests.post(
        f"{wechat}/_sim/faults", json={"blocked": openids[:1], "not_following": openids[1:2]}, timeout=5
    ).raise_for_status()
    return (
        f"{len(mobiles)} text(s) the carrier will not deliver, "
        f"{len(openids[:1])} follower who blocked the account, {len(openids[1:2])} who unfollowed"
    )


def _wait(engine: sa.Engine, sql: str, params: dict | None = None, timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if conn.execute(sa.text(sql), params or {}).scalar():
                return True
        time.sleep(0.3)
    return False


def opt_out_reply(settings: Settings) -> str:
    """One taxpayer who was texted answers "R"; returns what happened, the number masked."""
    engine = warehouse.engine(settings)
    # The gateway pushes its status reports a moment after the send.
    _wait(engine, "select count(*) from delivery.receipts where channel = 'sms'")
    with engine.connect() as conn:
        mobile = conn.execute(
            sa.text(
                "select recipient from delivery.outbox where channel = 'sms' "
                "and status in ('delivered', 'submitted') order by outbox_id limit 1"
            )
        ).scalar()
    if mobile is None:
        return "no text was sent, so nobody replied"
    r = requests.post(
        settings.sms.endpoint.rstrip("/") + "/_sim/reply", json={"mobile": mobile, "text": "R"}, timeout=5
    )
    r.raise_for_status()
    suppressed = _wait(
        engine, "select count(*) from delivery.suppression where recipient = :m", {"m": mobile}
    )
    return f"{mask_phone(mobile)} → {'on the suppression list' if suppressed else 'not yet recorded'}"
