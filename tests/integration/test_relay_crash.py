"""Crash tests: the relay runs as a real process and is killed with SIGKILL after it claimed rows,
after a request left (the gateway has it, no answer yet), after the answer came, and inside the
transaction that records the answer (before its commit). A second relay then runs. The gateway's
own record must show every reminder at most once — and exactly once where the gateway accepted it;
rows whose request may have left are ``unknown`` (for receipts), never resent; the rest are sent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from tests.integration.test_relay import NOW, county, restage, simulator  # noqa: F401 - fixtures
from zxt.core.failpoints import ENV as FAILPOINT

pytestmark = pytest.mark.integration

ROWS = 6
LEASE_S = 2.0

RELAY = (
    "import sys; from datetime import datetime; from zxt.delivery import relay; "
    "relay.run_relay(datetime.fromisoformat(sys.argv[1]))"
)


def _relay_process(endpoint: str, failpoint: str | None) -> subprocess.Popen:
    env = {
        **os.environ,
        "ZXT_SMS_ENDPOINT": endpoint,
        "ZXT_DELIVERY_LEASE_S": str(LEASE_S),
        "ZXT_DELIVERY_REQUESTS_IN_FLIGHT": "1",
    }
    env.pop(FAILPOINT, None)
    if failpoint:
        env[FAILPOINT] = failpoint
    return subprocess.Popen([sys.executable, "-c", RELAY, NOW.isoformat()], env=env)


def _distinct_rows(engine) -> list[dict]:
    """ROWS reminders of the real county, one per number, so the gateway's record maps to rows."""
    restage(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                """delete from delivery.outbox where outbox_id not in (
                     select min(outbox_id) from delivery.outbox group by recipient order by 1 limit :n)"""
            ),
            {"n": ROWS},
        )
        return [
            dict(r)
            for r in conn.execute(sa.text("select * from delivery.outbox order by outbox_id")).mappings()
        ]


def _final_states(engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("select recipient, status from delivery.outbox")).all())


def _wait(proc: subprocess.Popen) -> int:
    try:
        return proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize(
    ("failpoint", "unknown"),
    [
        ("relay.after_claim", 0),  # nothing was sent: every row returns when the lease ends
        ("relay.after_answer", 1),  # accepted, not recorded: unknown, never resent
        ("relay.before_commit", 1),  # the answer's transaction dies uncommitted: the same
    ],
)
def test_killed_at_a_failpoint_each_reminder_reaches_the_gateway_once(county, simulator, failpoint, unknown):  # noqa: F811
    rows = _distinct_rows(county)
    settings, sim = simulator()
    assert _wait(_relay_process(settings.sms.endpoint, failpoint)) == -signal.SIGKILL
    _assert_recovers(county, sim, rows, unknown)


def test_killed_after_the_request_left_before_the_answer(county, simulator):  # noqa: F811
    rows = _distinct_rows(county)
    settings, sim = simulator(answer_delay_s=5.0)
    proc = _relay_process(settings.sms.endpoint, None)
    try:
        deadline = time.monotonic() + 60
        while not sim.messages() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(sim.messages()) == 1  # the gateway has the first request; its answer is held
    finally:
        proc.send_signal(signal.SIGKILL)
        _wait(proc)
    sim.state.config.answer_delay_s = 0.0
    _assert_recovers(county, sim, rows, unknown=1)


def _assert_recovers(engine, sim, rows: list[dict], unknown: int) -> None:
    with engine.connect() as conn:
        assert (
            conn.execute(sa.text("select count(*) from delivery.outbox where status = 'submitted'")).scalar()
            == 0
        )
    time.sleep(LEASE_S + 0.5)  # the dead worker's lease runs out
    from zxt.core.settings import get_settings
    from zxt.delivery import relay

    relay.run_relay(NOW, get_settings().with_(sms__endpoint=sim.url, delivery__lease_s=LEASE_S))
    states = _final_states(engine)
    sent = [m["phone"] for m in sim.messages()]
    # Every reminder reached the gateway exactly once: the crashed one (if its request left) is
    # unknown and was not resent, every other one was sent by the second relay.
    assert sorted(sent) == sorted(r["recipient"] for r in rows)
    assert sorted(states.values()) == sorted(["unknown"] * unknown + ["submitted"] * (len(rows) - unknown))
    with engine.connect() as conn:
        assert (
            conn.execute(
                sa.text(
                    "select count(*) from delivery.outbox where lease_owner is not null and status = 'queued'"
                )
            ).scalar()
            == 0
        )
