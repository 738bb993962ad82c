"""Benchmark of the receipt path (docs/benchmarks.md): N submitted messages settled by receipts.

1. pushed: Tencent-shaped status arrays (200 reports each) POSTed to our callback receiver over
   HTTP, every push recorded and applied in its own transaction, as in production;
2. pulled: the same number of reports taken from the SMS simulator with ``PullSmsSendStatus`` by the
   feedback run (pages of 100), recorded and applied;
3. duplicates: the pushed reports pushed again (nothing may change).

Runs on its own warehouse (``bench_settings``: <ZXT_HOME>/bench, ZXT_BENCH_PG_PORT).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
import sqlalchemy as sa

from zxt.core.settings import BUREAU_TZ
from zxt.delivery import callbacks, feedback
from zxt.warehouse import migrate
from zxt.warehouse import server as warehouse
from zxt_sandbox import sms_gateway
from zxt_sandbox.bench import bench_settings

NOW = datetime(2026, 11, 13, 10, 0, tzinfo=BUREAU_TZ)
PUSH_BATCH = 200


@dataclass
class FeedbackBench:
    messages: int
    push_s: float
    pushed_delivered: int
    pull_s: float
    pulled_delivered: int
    duplicate_s: float
    changed_by_duplicates: int

    def per_s(self, seconds: float) -> float:
        return self.messages / seconds if seconds else 0.0


def _stage(engine: sa.Engine, n: int, tag: str) -> list[tuple[int, str, str]]:
    """n submitted SMS rows with provider serials; returns (outbox_id, serial, mobile)."""
    with engine.begin() as conn:
        rows = conn.execute(
            sa.text(
                """insert into delivery.outbox (idempotency_key, as_of_date, uscc, reminder_type, subject, channel,
                     recipient, template_code, provider_template_id, template_params, valid_from, valid_until,
                     status, provider_message_id, submitted_at)
                   select encode(sha256(convert_to(:tag || i, 'UTF8')), 'hex'), '2026-11-12', '914403001922038216',
                          'filing_due_soon', 'VAT:' || i, 'sms', '139' || lpad(i::text, 8, '0'), 'FILING_DUE_SOON',
                          '2400001', '["甲公司"]', :vf, :vu, 'submitted', :tag || ':' || i, :vf
                   from generate_series(1, :n) as i
                   returning outbox_id, provider_message_id, recipient"""
            ),
            {"tag": tag, "n": n, "vf": NOW - timedelta(hours=1), "vu": NOW + timedelta(days=1)},
        ).all()
    return [tuple(r) for r in rows]


def _delivered(engine: sa.Engine, tag: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text(
                    "select count(*) from delivery.outbox where status = 'delivered' "
                    "and provider_message_id like :p"
                ),
                {"p": f"{tag}:%"},
            ).scalar()
            or 0
        )


def _reports(rows: list[tuple[int, str, str]]) -> list[list[dict]]:
    out = []
    for i in range(0, len(rows), PUSH_BATCH):
        out.append(
            [
                {
                    "user_receive_time": "2026-11-13 10:00:05",
                    "nationcode": "86",
                    "mobile": mobile,
                    "report_status": "SUCCESS",
                    "errmsg": "DELIVRD",
                    "description": "用户短信送达成功",
                    "sid": serial,
                }
                for _, serial, mobile in rows[i : i + PUSH_BATCH]
            ]
        )
    return out


def run(messages: int = 20000) -> FeedbackBench:
    settings = bench_settings().with_(clock__now_override=NOW)
    warehouse.start(settings)
    engine = warehouse.engine(settings)
    migrate.ensure_current(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("truncate delivery.outbox, delivery.receipts, delivery.send_attempts cascade"))

    # 1. pushed to the receiver over HTTP
    pushed_rows = _stage(engine, messages, "push")
    batches = _reports(pushed_rows)
    server, thread = callbacks.serve(settings, "127.0.0.1", 0)
    session = requests.Session()
    t0 = time.perf_counter()
    for batch in batches:
        r = session.post(
            server.url + "/sms/status", data=json.dumps(batch, ensure_ascii=False).encode(), timeout=60
        )
        r.raise_for_status()
    push_s = time.perf_counter() - t0
    pushed_delivered = _delivered(engine, "push")

    # 3. the same reports again
    t0 = time.perf_counter()
    for batch in batches:
        session.post(
            server.url + "/sms/status", data=json.dumps(batch, ensure_ascii=False).encode(), timeout=60
        )
    duplicate_s = time.perf_counter() - t0
    with engine.connect() as conn:
        changed = int(
            conn.execute(
                sa.text(
                    "select count(*) from delivery.outbox where status <> 'delivered' and provider_message_id like 'push:%'"
                )
            ).scalar()
            or 0
        )
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)

    # 2. pulled from the simulator
    pulled_rows = _stage(engine, messages, "pull")
    sim = sms_gateway.SimulatorHandle.start(sms_gateway.default_config(settings), "127.0.0.1", 0)
    for outbox_id, serial, mobile in pulled_rows:
        sim.state.feedback._statuses.append(
            {
                "UserReceiveTime": int(NOW.timestamp()),
                "CountryCode": "86",
                "SubscriberNumber": mobile,
                "PhoneNumber": "+86" + mobile,
                "SerialNo": serial,
                "ReportStatus": "SUCCESS",
                "Description": "DELIVRD",
                "SessionContext": f"zxt:{outbox_id}",
            }
        )
    pull_settings = settings.with_(sms__endpoint=sim.url, feedback__max_pull_calls=messages // 100 + 10)
    t0 = time.perf_counter()
    feedback.run_feedback(NOW, pull_settings)
    pull_s = time.perf_counter() - t0
    sim.close()
    return FeedbackBench(
        messages=messages,
        push_s=push_s,
        pushed_delivered=pushed_delivered,
        pull_s=pull_s,
        pulled_delivered=_delivered(engine, "pull"),
        duplicate_s=duplicate_s,
        changed_by_duplicates=changed,
    )
