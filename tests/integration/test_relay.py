"""The relay against the SMS gateway simulator over HTTP: each error class ends in the right state,
opt-outs are rechecked at send time, the per-number cap holds, nothing is sent outside 08:00–21:00,
and an unknown outcome is never resent."""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.support import free_port
from zxt.core.settings import BUREAU_TZ, get_settings

NOW = datetime(2026, 11, 13, 10, 0, tzinfo=BUREAU_TZ)
OK, BLACK, LIMITED, BROKEN, OPTED_OUT, SHARED = (
    "13800000001",
    "13800000002",
    "13800000003",
    "13800000004",
    "13800000005",
    "13800000006",
)


@pytest.fixture(scope="module")
def seeded(engine):
    from tests.support import reset_warehouse
    from zxt.transform import dbt_runner as dbt_cli

    reset_warehouse(engine)
    dbt_cli.invoke(["seed", "--select", "message_templates"])
    return engine


@pytest.fixture
def gateway(seeded):
    from zxt_sandbox import sms_gateway as simulator

    with seeded.begin() as conn:
        conn.execute(
            sa.text(
                "truncate delivery.outbox, delivery.send_attempts, delivery.suppression, "
                "raw.contact__consents"
            )
        )
    config = replace(
        simulator.default_config(),
        blacklist={BLACK},
        fail_numbers={LIMITED: "LimitExceeded.PhoneNumberOneHourLimit", BROKEN: "InternalError.Timeout"},
    )
    config.__post_init__()
    handle = simulator.SimulatorHandle.start(config, "127.0.0.1", free_port())
    yield get_settings().with_(sms__endpoint=handle.url), handle
    handle.close()


def stage(engine, recipient: str, n: int = 1) -> None:
    with engine.begin() as conn:
        for i in range(n):
            key = f"{recipient}-{i}".ljust(64, "0")
            conn.execute(
                sa.text(
                    """insert into delivery.outbox (idempotency_key, as_of_date, uscc, reminder_type, subject,
                         channel, recipient, template_code, provider_template_id, template_params,
                         valid_from, valid_until)
                       values (:k, '2026-11-12', '914403001922038216', 'filing_due_soon', :s, 'sms', :r,
                               'FILING_DUE_SOON', '2400001', :p, :vf, :vu)"""
                ),
                {
                    "k": key,
                    "s": f"VAT:2026-{i + 1:02d}",
                    "r": recipient,
                    "p": json.dumps(["甲公司", "增值税", "2026年10月", "11月16日"]),
                    "vf": NOW - timedelta(hours=2),
                    "vu": NOW + timedelta(days=1),
                },
            )


def states(engine) -> dict[str, list[str]]:
    with engine.connect() as conn:
        out: dict[str, list[str]] = {}
        for r, s in conn.execute(sa.text("select recipient, status from delivery.outbox order by outbox_id")):
            out.setdefault(r, []).append(s)
        return out


def test_each_error_class_ends_in_its_state(seeded, gateway):
    from zxt.delivery import relay

    settings, sim = gateway
    for number in (OK, BLACK, LIMITED, BROKEN):
        stage(seeded, number)
    stats = relay.run_relay(NOW, settings)
    assert stats.claimed == 4
    assert states(seeded) == {
        OK: ["submitted"],
        BLACK: ["suppressed"],
        LIMITED: ["queued"],
        BROKEN: ["queued"],
    }
    assert [m["phone"].removeprefix("+86") for m in sim.messages()] == [OK]
    with seeded.connect() as conn:
        suppressed = conn.execute(sa.text("select recipient from delivery.suppression")).scalars().all()
        later = dict(
            conn.execute(
                sa.text("select recipient, next_attempt_at from delivery.outbox where status = 'queued'")
            ).all()
        )
    assert suppressed == [BLACK]
    assert later[LIMITED] >= NOW + timedelta(minutes=59)  # per-number limit: after its window
    assert NOW < later[BROKEN] <= NOW + timedelta(minutes=2)  # transient: backoff with jitter
    # A second pass at the same moment sends nothing: the rescheduled rows are not due yet.
    assert relay.run_relay(NOW, settings).claimed == 0


def test_opt_out_after_queueing_is_respected_at_send_time(seeded, gateway):
    from zxt.delivery import relay

    settings, sim = gateway
    stage(seeded, OPTED_OUT)
    with seeded.begin() as conn:
        conn.execute(
            sa.text(
                """insert into raw.contact__consents (event_id, uscc, contact_mobile, channel, event_type, event_date,
                 _batch_id, _source_file, _row_number, _drop_date)
               values ('E1', '914403001922038216', :m, 'sms', 'opt_out', '2026-11-13',
                       gen_random_uuid(), 'test', 2, '2026-11-13')"""
            ),
            {"m": OPTED_OUT},
        )
    relay.run_relay(NOW, settings)
    assert states(seeded)[OPTED_OUT] == ["suppressed"]
    assert sim.messages() == []


def test_per_number_daily_cap_and_send_window(seeded, gateway):
    from zxt.delivery import relay

    settings, sim = gateway
    stage(seeded, SHARED, n=settings.sms.max_per_number_per_day + 2)  # an accountant's number
    assert relay.run_relay(NOW.replace(hour=7, minute=59), settings).claimed == 0  # before 08:00
    assert relay.run_relay(NOW.replace(hour=21), settings).claimed == 0  # from 21:00
    assert sim.messages() == []
    relay.run_relay(NOW, settings)
    sent = states(seeded)[SHARED]
    assert sent.count("submitted") == settings.sms.max_per_number_per_day
    assert sent.count("queued") == 2
    assert len(sim.messages()) == settings.sms.max_per_number_per_day


def test_a_timeout_after_the_request_left_is_unknown_and_never_resent(seeded, gateway):
    """A gateway that takes the request and never answers: the outcome is unknown, not retried."""
    from zxt.delivery import relay

    settings, _ = gateway
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    port = listener.getsockname()[1]
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def swallow():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                conn.recv(65536)
                accepted.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=swallow, daemon=True)
    thread.start()
    try:
        stage(seeded, OK)
        silent = settings.with_(sms__endpoint=f"http://127.0.0.1:{port}/", sms__timeout_s=1.0)
        relay.run_relay(NOW, silent)
        relay.run_relay(NOW + timedelta(minutes=30), silent)
        assert states(seeded)[OK] == ["unknown"]
        assert len(accepted) == 1  # one request, never a second
    finally:
        stop.set()
        thread.join(timeout=2)
        listener.close()
        for c in accepted:
            c.close()


def test_validity_window_expires_stale_reminders(seeded, gateway):
    from zxt.delivery import relay

    settings, sim = gateway
    stage(seeded, OK)
    stats = relay.run_relay(NOW + timedelta(days=2), settings)
    assert stats.expired == 1 and states(seeded)[OK] == ["expired"]
    assert sim.messages() == []


def test_a_warning_resolved_since_staging_is_not_sent(seeded, gateway):
    """The taxpayer filed after the reminder was staged: the next published date no longer has the
    warning, so the relay drops the reminder instead of telling them they are late."""
    from zxt.delivery import relay

    settings, sim = gateway
    stage(seeded, OK)  # subject VAT:2026-01, staged for 2026-11-12
    stage(seeded, SHARED)  # the same subject, still open below
    with seeded.begin() as conn:
        conn.execute(sa.text("create schema if not exists marts"))
        conn.execute(
            sa.text(
                "create table marts.credit_warning (as_of_date date, uscc text, warning_type text, "
                "subject text)"
            )
        )
        conn.execute(
            sa.text("insert into ops.publish_log (as_of_date) values ('2026-11-12'), ('2026-11-13')")
        )
        conn.execute(
            sa.text("update delivery.outbox set uscc = '9144030071526726XG' where recipient = :m"),
            {"m": SHARED},
        )
        conn.execute(
            sa.text(
                "insert into marts.credit_warning values "
                "('2026-11-13', '9144030071526726XG', 'filing_due_soon', 'VAT:2026-01')"
            )
        )
    try:
        relay.run_relay(NOW, settings)
        assert states(seeded) == {OK: ["expired"], SHARED: ["submitted"]}
        assert [m["phone"].removeprefix("+86") for m in sim.messages()] == [SHARED]
    finally:
        with seeded.begin() as conn:
            conn.execute(sa.text("drop schema marts cascade"))
            conn.execute(sa.text("delete from ops.publish_log"))
