"""Staging and the relay on a real county: synthetic drops → ingest → dbt build (the real
``credit_warning`` and ``reminder_candidates`` marts) → ``stage_reminders`` → the relay against the
SMS gateway simulator over HTTP.

Each error class ends in its state; opt-outs are rechecked at send time; the per-number cap holds,
counts unknown sends and moves to the next window; nothing goes out of the send window or the
validity window; an unknown outcome is never resent; a refused connection costs no attempt and
trips the breaker, which closes when the gateway answers; rows left behind by a dead worker
return (queued) or become unknown (sending); dead rows are replayed without duplicates."""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import replace
from datetime import date, datetime, time, timedelta

import pytest
import sqlalchemy as sa

from tests.support import free_port
from zxt.core.settings import BUREAU_TZ, get_settings

AS_OF = date(2026, 11, 12)
NOW = datetime(2026, 11, 13, 10, 0, tzinfo=BUREAU_TZ)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def county(engine, tmp_path_factory):
    """The real marts for AS_OF, published, on a 300-enterprise county."""
    from tests.support import reset_warehouse
    from zxt.core.settings import reset_settings
    from zxt.ingest import load as ingest
    from zxt.transform import dbt_runner as dbt_cli
    from zxt_sandbox import synth

    reset_warehouse(engine)
    landing = tmp_path_factory.mktemp("landing")
    old = {k: os.environ.get(k) for k in ("ZXT_LANDING_DIR", "ZXT_ARCHIVE_DIR")}
    os.environ["ZXT_LANDING_DIR"] = str(landing)
    os.environ["ZXT_ARCHIVE_DIR"] = str(tmp_path_factory.mktemp("archive"))
    reset_settings()
    try:
        synth.generate(landing, AS_OF, AS_OF, enterprises=300, seed=11)
        ingest.ingest_until(AS_OF)
        dbt_cli.invoke(["build", "--exclude", "test_type:unit"], as_of=AS_OF)
    finally:
        for k, v in old.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
        reset_settings()
    with engine.begin() as conn:
        conn.execute(
            sa.text("insert into ops.publish_marts (mart, as_of_date) values ('credit_warning', :d)"),
            {"d": AS_OF},
        )
    return engine


def restage(
    engine, limit_to: int | None = None, one_per_number: bool = False, sms_only: bool = True
) -> list[dict]:
    """An empty delivery state, then the real staging path; optionally keep one row per number (a
    shared accountant's number would hit the daily cap) and only the first N rows. These tests
    exercise the relay on SMS: followers' WeChat rows are dropped unless ``sms_only`` is off."""
    from zxt.delivery import outbox

    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "truncate delivery.outbox, delivery.send_attempts, delivery.suppression, "
                "delivery.recipient_day, delivery.channel_state"
            )
        )
        conn.execute(sa.text("delete from raw.contact__consents where _source_file = 'test'"))
    outbox.stage_reminders(AS_OF)
    with engine.begin() as conn:
        if sms_only:
            conn.execute(sa.text("delete from delivery.outbox where channel <> 'sms'"))
        if one_per_number:
            conn.execute(
                sa.text(
                    "delete from delivery.outbox where outbox_id not in "
                    "(select min(outbox_id) from delivery.outbox group by recipient)"
                )
            )
        if limit_to is not None:
            conn.execute(
                sa.text(
                    "delete from delivery.outbox where outbox_id not in "
                    "(select outbox_id from delivery.outbox order by outbox_id limit :n)"
                ),
                {"n": limit_to},
            )
        return [
            dict(r)
            for r in conn.execute(sa.text("select * from delivery.outbox order by outbox_id")).mappings()
        ]


def distinct_recipients(rows: list[dict], n: int) -> list[str]:
    """n recipients with one staged row each."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["recipient"]] = counts.get(r["recipient"], 0) + 1
    singles = [r for r, c in counts.items() if c == 1]
    assert len(singles) >= n, "the county has too few reminders for this test"
    return singles[:n]


def states(engine) -> dict[str, list[str]]:
    with engine.connect() as conn:
        out: dict[str, list[str]] = {}
        for r, s in conn.execute(sa.text("select recipient, status from delivery.outbox order by outbox_id")):
            out.setdefault(r, []).append(s)
        return out


def status_counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("select status, count(*) from delivery.outbox group by 1")).all())


def sent_phones(sim) -> list[str]:
    return [m["phone"] for m in sim.messages()]


@pytest.fixture
def simulator(county):
    from zxt_sandbox import sms_gateway

    handles = []

    def start(port: int = 0, **changes):
        config = replace(sms_gateway.default_config(), **changes)
        config.__post_init__()
        handle = sms_gateway.SimulatorHandle.start(config, "127.0.0.1", port)
        handles.append(handle)
        return get_settings().with_(sms__endpoint=handle.url), handle

    yield start
    for h in handles:
        h.close()


# --- staging from the real mart ---------------------------------------------------------------


def test_staging_upserts_the_mart_once_with_windows_and_trimmed_parameters(county):
    from zxt.delivery import outbox

    rows = restage(county, sms_only=False)
    with county.connect() as conn:
        candidates = conn.execute(
            sa.text("select count(*) from marts.reminder_candidates where as_of_date = :d"), {"d": AS_OF}
        ).scalar()
        params = dict(
            conn.execute(sa.text("select template_code, param_count from rules.message_templates")).all()
        )
    assert len(rows) == candidates > 10
    # A rerun of the date stages nothing new (idempotency key).
    assert outbox.stage_reminders(AS_OF).staged == 0
    for r in rows:
        assert r["channel"] in ("sms", "wechat") and r["status"] == "queued"
        assert r["valid_from"] == datetime(2026, 11, 13, 8, 0, tzinfo=BUREAU_TZ)
        # Due soon: until 21:00 on the deadline (within the 7-day horizon); overdue: three days at most.
        last_day = AS_OF + timedelta(days=7 if r["reminder_type"] == "filing_due_soon" else 3)
        assert r["valid_from"] < r["valid_until"] <= datetime.combine(last_day, time(21), BUREAU_TZ)
        assert r["valid_until"].astimezone(BUREAU_TZ).time() == time(21)
        assert len(r["template_params"]) == params[r["template_code"]]  # trimmed to the template
        assert len(r["template_params"][0]) <= 20  # the name is cut to 20 characters
    assert {r["template_code"] for r in rows} >= {"FILING_DUE_SOON", "FILING_OVERDUE"}
    assert {r["channel"] for r in rows} == {"sms", "wechat"}  # followers of the account by WeChat


def test_suppressed_and_opted_out_numbers_are_not_staged(county):
    from zxt.transform import dbt_runner as dbt_cli

    rows = restage(county)
    victim = rows[0]["recipient"]
    with county.begin() as conn:
        conn.execute(
            sa.text(
                "insert into delivery.suppression (channel, recipient, reason) values ('sms', :m, 'test')"
            ),
            {"m": victim},
        )
    try:
        dbt_cli.invoke(["run", "--select", "reminder_candidates"], as_of=AS_OF)
        with county.begin() as conn:
            conn.execute(sa.text("truncate delivery.outbox cascade"))
        from zxt.delivery import outbox

        outbox.stage_reminders(AS_OF)
        assert victim not in states(county)
        assert len(states(county)) >= len({r["recipient"] for r in rows}) - 1
    finally:
        with county.begin() as conn:
            conn.execute(sa.text("truncate delivery.suppression"))
        dbt_cli.invoke(["run", "--select", "reminder_candidates"], as_of=AS_OF)


# --- outcomes ---------------------------------------------------------------------------------


def test_each_error_class_ends_in_its_state(county, simulator):
    from zxt.delivery import relay

    rows = restage(county, one_per_number=True)
    ok, black, limited, broken, invalid = distinct_recipients(rows, 5)
    settings, sim = simulator(
        blacklist={black},
        fail_numbers={
            limited: "LimitExceeded.PhoneNumberOneHourLimit",
            broken: "InternalError.Timeout",
            invalid: "InvalidParameterValue.IncorrectPhoneNumber",
        },
    )
    stats = relay.run_relay(NOW, settings)
    assert stats.claimed == len(rows)
    got = states(county)
    assert (got[ok], got[black], got[limited], got[broken], got[invalid]) == (
        ["submitted"],
        ["suppressed"],
        ["queued"],
        ["queued"],
        ["failed"],
    )
    assert sorted(sent_phones(sim)) == sorted(
        r["recipient"] for r in rows if r["recipient"] not in {black, limited, broken, invalid}
    )
    with county.connect() as conn:
        suppressed = conn.execute(sa.text("select recipient from delivery.suppression")).scalars().all()
        later = dict(
            conn.execute(
                sa.text("select recipient, next_attempt_at from delivery.outbox where status = 'queued'")
            ).all()
        )
        attempts = dict(conn.execute(sa.text("select recipient, attempts from delivery.outbox")).all())
        submitted = conn.execute(
            sa.text(
                "select count(*) from delivery.outbox where status = 'submitted' and provider_message_id is null"
            )
        ).scalar()
    assert suppressed == [black]
    assert later[limited] >= NOW + timedelta(minutes=59)  # per-number limit: after its window
    assert NOW < later[broken] <= NOW + timedelta(minutes=2)  # transient: backoff with jitter
    assert attempts[broken] == 1 and attempts[limited] == 0  # a reschedule costs no attempt
    assert submitted == 0  # every accepted row keeps Tencent's serial number
    # A second pass at the same moment sends nothing: the rescheduled rows are not due yet.
    assert relay.run_relay(NOW, settings).claimed == 0


def test_transient_errors_end_dead_and_replay_sends_them_once(county, simulator):
    from zxt.delivery import relay, replay

    rows = restage(county, limit_to=3)
    broken = rows[0]["recipient"]
    settings, sim = simulator(fail_numbers={broken: "InternalError.Timeout"})
    at = NOW
    for _ in range(settings.delivery.max_attempts):
        relay.run_relay(at, settings)
        at += timedelta(hours=1)  # past any backoff
    assert states(county)[broken] == ["dead"]
    # Replay leaves alone what was accepted, and refuses unknown (it may have been delivered).
    with pytest.raises(ValueError, match="unknown"):
        replay.replay(["unknown"])
    sim.state.config.fail_numbers.clear()
    result = replay.replay(["dead"], since=NOW - timedelta(days=30), now=at)
    assert (result.matched, result.requeued) == (1, 1)
    assert replay.replay(["dead"], now=at).requeued == 0  # nothing dead any more
    relay.run_relay(at, settings)
    assert states(county)[broken] == ["submitted"]
    assert sorted(sent_phones(sim)) == sorted(r["recipient"] for r in rows)  # each exactly once


def test_opt_out_after_queueing_is_respected_at_send_time(county, simulator):
    from zxt.delivery import relay

    rows = restage(county, limit_to=5)
    opted_out = rows[0]["recipient"]
    settings, sim = simulator()
    with county.begin() as conn:
        conn.execute(
            sa.text(
                """insert into raw.contact__consents (event_id, uscc, contact_mobile, channel, event_type, event_date,
                 _batch_id, _source_file, _row_number, _drop_date)
               values ('E-test', :u, :m, 'sms', 'opt_out', '2026-11-13', gen_random_uuid(), 'test', 2, '2026-11-13')"""
            ),
            {"m": opted_out, "u": rows[0]["uscc"]},
        )
    relay.run_relay(NOW, settings)
    assert set(states(county)[opted_out]) == {"suppressed"}
    assert opted_out not in sent_phones(sim) and len(sent_phones(sim)) > 0


def test_parameters_are_sanitised_for_the_channel(county, simulator):
    from zxt.delivery import relay

    rows = restage(county, limit_to=1)
    with county.begin() as conn:
        conn.execute(
            sa.text(
                "update delivery.outbox set template_params = jsonb_set(template_params, '{0}', to_jsonb(cast(:n as text)))"
            ),
            {"n": "甲\u202e司公\n乙\x1b[2J\u2066商行\u2069"},
        )
    settings, sim = simulator()
    relay.run_relay(NOW, settings)
    [message] = sim.messages()
    assert message["params"][0] == "甲司公 乙[2J商行"
    assert rows[0]["recipient"] == message["phone"]


# --- windows and caps -------------------------------------------------------------------------


def test_send_window_validity_window_and_expiry(county, simulator):
    from zxt.delivery import relay

    restage(county)
    settings, sim = simulator()
    assert relay.run_relay(NOW.replace(hour=7, minute=59), settings).claimed == 0  # before 08:00
    assert relay.run_relay(NOW.replace(hour=21), settings).claimed == 0  # from 21:00
    assert (
        relay.run_relay(datetime(2026, 11, 12, 10, 0, tzinfo=BUREAU_TZ), settings).claimed == 0
    )  # not yet valid
    assert sim.messages() == []
    stats = relay.run_relay(datetime(2026, 11, 20, 10, 0, tzinfo=BUREAU_TZ), settings)
    assert stats.claimed == 0 and stats.expired == sum(status_counts(county).values())
    assert set(status_counts(county)) == {"expired"} and sim.messages() == []


def _stage_many_for_one_number(engine, number: str, n: int) -> None:
    """n reminders of the real county re-addressed to one number (an accountant's phone)."""
    restage(engine, limit_to=n)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "update delivery.outbox set recipient = :m, idempotency_key = md5(outbox_id::text) || md5(:m)"
            ),
            {"m": number},
        )


def test_per_number_daily_cap_moves_to_the_next_window(county, simulator):
    from zxt.delivery import relay

    settings, sim = simulator()
    cap = settings.sms.max_per_number_per_day
    _stage_many_for_one_number(county, "13912340000", cap + 2)
    relay.run_relay(NOW, settings)
    assert status_counts(county) == {"submitted": cap, "queued": 2}
    with county.connect() as conn:
        later = set(
            conn.execute(
                sa.text("select next_attempt_at from delivery.outbox where status = 'queued'")
            ).scalars()
        )
    assert later == {datetime(2026, 11, 14, 8, 0, tzinfo=BUREAU_TZ)}
    assert relay.run_relay(NOW + timedelta(hours=3), settings).claimed == 0
    relay.run_relay(datetime(2026, 11, 14, 8, 30, tzinfo=BUREAU_TZ), settings)
    assert status_counts(county) == {"submitted": cap + 2}
    assert len(sim.messages()) == cap + 2


def test_unknown_sends_count_against_the_daily_cap(county, simulator):
    """Two sends timed out after the request left: with a cap of 3 only one more may go today."""
    from zxt.delivery import relay

    settings, sim = simulator()
    number = "13912340001"
    _stage_many_for_one_number(county, number, 4)
    listener, accepted, stop = _swallowing_gateway()
    try:
        silent = settings.with_(
            sms__endpoint=f"http://127.0.0.1:{listener.getsockname()[1]}/", sms__timeout_s=1.0
        )
        relay.run_relay(NOW, silent, limit=2)
    finally:
        stop()
    assert status_counts(county) == {"unknown": 2, "queued": 2}
    relay.run_relay(NOW, settings)
    assert status_counts(county) == {"unknown": 2, "submitted": 1, "queued": 1}
    assert len(sim.messages()) == 1


def test_concurrent_workers_share_the_daily_cap(county, simulator):
    from zxt.delivery import relay

    settings, sim = simulator()
    settings = settings.with_(delivery__claim_size=1, delivery__requests_in_flight=1)
    _stage_many_for_one_number(county, "13912340002", 8)
    workers = [threading.Thread(target=relay.run_relay, args=(NOW, settings)) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert status_counts(county) == {"submitted": settings.sms.max_per_number_per_day, "queued": 5}
    assert len(sim.messages()) == settings.sms.max_per_number_per_day


def test_the_rate_window_never_admits_more_than_the_limit_across_workers(county):
    from zxt.delivery import limits

    restage(county, limit_to=0)
    with county.begin() as conn:
        limits.ensure_state(conn, "sms")
    windows: list[datetime] = []
    lock = threading.Lock()

    def worker():
        with county.connect() as conn:
            for _ in range(6):
                grant = limits.take_rate(conn, "sms", 2, per_second=5)
                with lock:
                    windows.append(grant.window_start)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    per_window: dict[datetime, int] = {}
    for w in windows:
        per_window[w] = per_window.get(w, 0) + 2
    assert len(windows) == 18 and max(per_window.values()) <= 5


# --- lost answers, dead workers, outages -----------------------------------------------------


def _swallowing_gateway():
    """A gateway that takes every request and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    done = threading.Event()

    def swallow():
        listener.settimeout(0.2)
        while not done.is_set():
            try:
                conn, _ = listener.accept()
                conn.recv(65536)
                accepted.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=swallow, daemon=True)
    thread.start()

    def stop():
        done.set()
        thread.join(timeout=2)
        listener.close()
        for c in accepted:
            c.close()

    return listener, accepted, stop


def test_a_timeout_after_the_request_left_is_unknown_and_never_resent(county, simulator):
    from zxt.delivery import relay

    restage(county, limit_to=1)
    settings, _ = simulator()
    listener, accepted, stop = _swallowing_gateway()
    try:
        silent = settings.with_(
            sms__endpoint=f"http://127.0.0.1:{listener.getsockname()[1]}/", sms__timeout_s=1.0
        )
        relay.run_relay(NOW, silent)
        relay.run_relay(NOW + timedelta(minutes=30), silent)
        assert status_counts(county) == {"unknown": 1}
        assert len(accepted) == 1  # one request, never a second
    finally:
        stop()


def test_an_outage_costs_no_attempt_pauses_the_channel_and_resumes_when_it_answers(county, simulator):
    """A refused connection: nothing left. Three in a row open the breaker (the rest of the claim
    goes back untouched); while paused nothing is tried; the first answer closes it."""
    from zxt.delivery import relay

    rows = restage(county, one_per_number=True)
    port = free_port()
    settings = get_settings().with_(
        sms__endpoint=f"http://127.0.0.1:{port}/",
        delivery__requests_in_flight=1,
        delivery__breaker_threshold=3,
    )
    stats = relay.run_relay(NOW, settings)
    assert stats.requests == 3 and stats.outcomes["not_sent"] == 3
    with county.connect() as conn:
        assert conn.execute(sa.text("select max(attempts) from delivery.outbox")).scalar() == 0
        paused_until, reason = conn.execute(
            sa.text("select paused_until, pause_reason from delivery.channel_state where channel = 'sms'")
        ).one()
    assert status_counts(county) == {"queued": len(rows)}
    assert paused_until == NOW + timedelta(seconds=settings.delivery.breaker_pause_s)
    assert reason.startswith("circuit open: Network.ConnectError")
    # Still down after the pause: one probe, and a longer pause.
    probe_at = paused_until + timedelta(seconds=1)
    assert relay.run_relay(NOW + timedelta(seconds=30), settings).requests == 0
    assert relay.run_relay(probe_at, settings).requests == 1
    # The gateway is back: everything goes, each once, and the breaker is closed.
    _, sim = simulator(port=port)
    relay.run_relay(probe_at + timedelta(minutes=10), settings)
    assert status_counts(county) == {"submitted": len(rows)}
    assert sorted(sent_phones(sim)) == sorted(r["recipient"] for r in rows)
    with county.connect() as conn:
        assert conn.execute(sa.text("select max(attempts) from delivery.outbox")).scalar() == 1
        state = conn.execute(
            sa.text("select paused_until, consecutive_failures from delivery.channel_state")
        ).one()
    assert tuple(state) == (None, 0)


def test_a_provider_quota_pauses_the_channel_until_the_next_window(county, simulator):
    from zxt.delivery import relay

    rows = restage(county, one_per_number=True)
    settings, sim = simulator(fail_numbers={r["recipient"]: "LimitExceeded.AppDailyLimit" for r in rows})
    settings = settings.with_(delivery__requests_in_flight=1)
    stats = relay.run_relay(NOW, settings)
    assert stats.requests == 1
    assert stats.outcomes["requeued_paused"] + stats.outcomes["pause_channel"] == len(rows)
    with county.connect() as conn:
        paused = conn.execute(sa.text("select paused_until from delivery.channel_state")).scalar()
        attempts = conn.execute(sa.text("select max(attempts) from delivery.outbox")).scalar()
    assert paused == datetime(2026, 11, 14, 8, 0, tzinfo=BUREAU_TZ) and attempts == 0
    assert status_counts(county) == {"queued": len(rows)} and sim.messages() == []
    assert relay.run_relay(NOW + timedelta(hours=2), settings).claimed == 0


def test_rows_of_a_dead_worker_return_or_become_unknown(county, simulator):
    """A worker died: its leased queued rows are claimed again after the lease; its sending row
    (the request may have left) becomes unknown and is never resent."""
    from zxt.delivery import relay

    rows = restage(county, limit_to=3)
    with county.begin() as conn:
        conn.execute(
            sa.text(
                "update delivery.outbox set lease_owner = 'dead-worker', lease_until = clock_timestamp() - interval '1 second'"
            )
        )
        conn.execute(
            sa.text("update delivery.outbox set status = 'sending', sent_at = :now where outbox_id = :id"),
            {"id": rows[0]["outbox_id"], "now": NOW},
        )
    settings, sim = simulator()
    stats = relay.run_relay(NOW, settings)
    assert stats.outcomes["interrupted"] == 1
    assert states(county)[rows[0]["recipient"]] == ["unknown"]
    assert sorted(sent_phones(sim)) == sorted(r["recipient"] for r in rows[1:])


def test_a_row_failing_before_its_request_leaves_goes_back_to_the_queue(county, simulator):
    """The client refuses a request before sending it (here: one number twice, which a channel
    that batches wrongly would build): the rows go back to the queue with an attempt used, never
    left 'sending' to be swept to unknown."""
    from zxt.delivery import relay
    from zxt.delivery.channels.tencent_sms import TencentSmsChannel

    class OneRequest(TencentSmsChannel):
        def batches(self, messages):
            return [list(messages)]

    _stage_many_for_one_number(county, "13912340003", 2)
    with county.begin() as conn:  # the same template and parameters, so one SendSms could carry both
        conn.execute(
            sa.text(
                "update delivery.outbox o set template_code = f.template_code, provider_template_id = "
                "f.provider_template_id, template_params = f.template_params from "
                "(select * from delivery.outbox order by outbox_id limit 1) f"
            )
        )
    settings, sim = simulator()
    relay.run_relay(NOW, settings, channels={"sms": OneRequest(settings)})
    assert status_counts(county) == {"queued": 2}
    with county.connect() as conn:
        rows = conn.execute(sa.text("select attempts, last_error_code, sent_at from delivery.outbox")).all()
    assert {tuple(r) for r in rows} == {(1, "ZXT.NotSent", None)}
    assert sim.messages() == []


def test_delivery_state_is_written_with_synchronous_commit_on(county, simulator):
    """The embedded warehouse runs with synchronous_commit = off; every statement that changes
    the outbox must run where it is on, so an accepted send is durable before the next one."""
    from zxt.delivery import relay
    from zxt.warehouse import server as warehouse

    restage(county, limit_to=5)
    settings, _ = simulator()
    engine = warehouse.engine(settings, role="delivery")  # the relay's own connection
    seen: list[str] = []

    @sa.event.listens_for(engine, "after_cursor_execute")
    def check(conn, cursor, statement, parameters, context, executemany):
        if "delivery.outbox" in statement and statement.lstrip().lower().startswith(("update", "insert")):
            with conn.connection.driver_connection.cursor() as cur:
                seen.append(cur.execute("select current_setting('synchronous_commit')").fetchone()[0])

    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("show synchronous_commit")).scalar() == "off"
        relay.run_relay(NOW, settings)
    finally:
        sa.event.remove(engine, "after_cursor_execute", check)
    assert status_counts(county) == {"submitted": 5}
    assert len(seen) >= 3 and set(seen) == {"on"}


def test_a_warning_resolved_since_staging_is_not_sent(county, simulator):
    """The taxpayer filed after the reminder was staged: the next published date no longer has the
    warning, so the relay drops the reminder instead of telling them they are late."""
    from zxt.delivery import relay

    rows = restage(county, limit_to=2)
    resolved, still_open = rows
    nxt = AS_OF + timedelta(days=1)
    with county.begin() as conn:
        conn.execute(
            sa.text(
                "insert into marts.credit_warning select (jsonb_populate_record(null::marts.credit_warning, "
                "to_jsonb(w) || jsonb_build_object('as_of_date', cast(:n as text)))).* from marts.credit_warning w "
                "where as_of_date = :d and uscc = :u and warning_type = :t and subject = :s"
            ),
            {
                "n": nxt.isoformat(),
                "d": AS_OF,
                "u": still_open["uscc"],
                "t": still_open["reminder_type"],
                "s": still_open["subject"],
            },
        )
        conn.execute(
            sa.text("insert into ops.publish_marts (mart, as_of_date) values ('credit_warning', :n)"),
            {"n": nxt},
        )
    settings, sim = simulator()
    try:
        relay.run_relay(NOW, settings)
        with county.connect() as conn:
            got = dict(conn.execute(sa.text("select outbox_id, status from delivery.outbox")).all())
        assert got == {resolved["outbox_id"]: "expired", still_open["outbox_id"]: "submitted"}
        assert sent_phones(sim) == [still_open["recipient"]]
    finally:
        with county.begin() as conn:
            conn.execute(sa.text("delete from marts.credit_warning where as_of_date = :n"), {"n": nxt})
            conn.execute(sa.text("delete from ops.publish_marts where as_of_date = :n"), {"n": nxt})
