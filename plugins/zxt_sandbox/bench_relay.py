"""Relay benchmark: N staged reminders sent through the SMS gateway simulator by W relay worker
processes running the real ``zxt.delivery.relay.run_relay``; and the simulator alone, driven by
the real ``TencentSmsClient`` without any warehouse, to show it is not the bottleneck.

Results go in docs/benchmarks.md (never asserted in tests). The warehouse is the bench one
(``bench.bench_settings``: <ZXT_HOME>/bench, port ZXT_BENCH_PG_PORT).

Reminders are either *personalised* (every one names its taxpayer, as today's templates do, so
each SendSms carries one number) or *shared* (the same template and parameters for everyone, e.g.
a deadline notice without a name, so one SendSms carries up to 200 numbers).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime

import sqlalchemy as sa

from zxt.core.settings import BUREAU_TZ, Settings
from zxt.delivery.channels.tencent_sms import TencentSmsClient
from zxt.transform import dbt_runner
from zxt.warehouse import migrate
from zxt.warehouse import server as warehouse
from zxt_sandbox import sms_gateway
from zxt_sandbox.bench import bench_settings

NOW = datetime(2026, 11, 13, 10, 0, tzinfo=BUREAU_TZ)
TEMPLATE_ID = "2400001"

STAGE_SQL = """
insert into delivery.outbox (idempotency_key, as_of_date, uscc, reminder_type, subject, channel, recipient,
                             template_code, provider_template_id, template_params, valid_from, valid_until)
select md5('bench' || g) || md5('key' || g), date '2026-11-12', lpad(g::text, 18, '9'), 'filing_due_soon',
       'VAT:2026-10', 'sms', (13900000000 + g)::text, 'FILING_DUE_SOON', :tid,
       case when :shared then jsonb_build_array('纳税人', '增值税', '2026年10月', '11月16日')
            else jsonb_build_array('广水市测试商贸' || g || '号', '增值税', '2026年10月', '11月16日') end,
       :valid_from, :valid_until
from generate_series(1, :n) as g
"""

# Each worker reports its requests and when run_relay started and ended (wall clock).
WORKER = (
    "import sys, time; from datetime import datetime; from zxt.delivery import relay; t = time.time(); "
    "s = relay.run_relay(datetime.fromisoformat(sys.argv[1])); print(s.claimed, s.requests, t, time.time())"
)


@dataclass
class RelayBench:
    reminders: int
    workers: int
    shared_params: bool
    in_flight: int
    seconds: float  # from starting the worker processes to the last one's exit
    relay_seconds: float  # from the first run_relay call to the last one's return (no interpreter start)
    submitted: int
    requests: int
    gateway_messages: int
    duplicates: int
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def per_s(self) -> float:
        return self.submitted / self.seconds

    @property
    def relay_per_s(self) -> float:
        return self.submitted / self.relay_seconds


@dataclass
class SimulatorBench:
    requests: int
    numbers_per_request: int
    threads: int
    seconds: float

    @property
    def messages_per_s(self) -> float:
        return self.requests * self.numbers_per_request / self.seconds

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds


def _simulator(settings: Settings) -> sms_gateway.SimulatorHandle:
    config = replace(sms_gateway.default_config(settings), daily_limit_per_number=1_000_000)
    return sms_gateway.SimulatorHandle.start(config)


def run_relay(
    reminders: int = 100_000, workers: int = 4, shared_params: bool = False, in_flight: int = 8
) -> RelayBench:
    settings = bench_settings()
    engine = warehouse.engine(settings)
    migrate.forget_checks()
    migrate.upgrade(engine)
    dbt_runner.invoke(["seed", "--select", "message_templates"], settings=settings)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "truncate delivery.outbox, delivery.send_attempts, delivery.suppression, "
                "delivery.recipient_day, delivery.channel_state"
            )
        )
        conn.execute(
            sa.text(STAGE_SQL),
            {
                "n": reminders,
                "tid": TEMPLATE_ID,
                "shared": shared_params,
                "valid_from": NOW.replace(hour=8),
                "valid_until": NOW.replace(hour=21),
            },
        )
    with engine.begin() as conn:
        conn.execute(sa.text("analyze delivery.outbox"))
    sim = _simulator(settings)
    env = {
        **os.environ,
        "ZXT_HOME": str(settings.paths.home),
        "ZXT_EMBEDDED_PG_PORT": str(settings.warehouse.embedded_port),
        "ZXT_SMS_ENDPOINT": sim.url,
        "ZXT_DELIVERY_REQUESTS_IN_FLIGHT": str(in_flight),
        # Far above the run's rate: the benchmark measures the relay, not the limit.
        "ZXT_SMS_MAX_PER_SECOND": "100000",
    }
    try:
        t = time.perf_counter()
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, NOW.isoformat()], env=env, stdout=subprocess.PIPE, text=True
            )
            for _ in range(workers)
        ]
        outs = [p.communicate()[0] for p in procs]
        seconds = time.perf_counter() - t
        if any(p.returncode for p in procs):
            raise RuntimeError(f"a relay worker failed: exit codes {[p.returncode for p in procs]}")
        messages = sim.state.messages()
    finally:
        sim.close()
    reports = [o.split() for o in outs if o.strip()]
    requests = sum(int(r[1]) for r in reports)
    relay_seconds = max(float(r[3]) for r in reports) - min(float(r[2]) for r in reports)
    with engine.connect() as conn:
        statuses = dict(
            conn.execute(sa.text("select status, count(*) from delivery.outbox group by 1")).all()
        )
    per_phone = Counter(m["phone"] for m in messages)
    return RelayBench(
        reminders=reminders,
        workers=workers,
        shared_params=shared_params,
        in_flight=in_flight,
        seconds=seconds,
        relay_seconds=relay_seconds,
        submitted=statuses.get("submitted", 0),
        requests=requests,
        gateway_messages=len(messages),
        duplicates=sum(c - 1 for c in per_phone.values() if c > 1),
        statuses=statuses,
    )


def run_simulator(requests: int = 5000, numbers_per_request: int = 1, threads: int = 4) -> SimulatorBench:
    """The gateway simulator alone, driven by the relay's own client (signing, HTTP, parsing)."""
    settings = bench_settings()
    sim = _simulator(settings)
    client = TencentSmsClient(settings.with_(sms__endpoint=sim.url))
    params = ["纳税人", "增值税", "2026年10月", "11月16日"]

    def one(i: int) -> None:
        numbers = [str(13900000000 + i * numbers_per_request + k) for k in range(numbers_per_request)]
        result = client.send(numbers, TEMPLATE_ID, params, f"bench:{i}")
        if result.error_code:
            raise RuntimeError(f"simulator refused a request: {result.error_code}")

    try:
        t = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, range(requests)))
        seconds = time.perf_counter() - t
    finally:
        sim.close()
    return SimulatorBench(requests, numbers_per_request, threads, seconds)
