"""Receipts, replies, follow-ups and delivery rates, end to end over HTTP: the SMS gateway and the
WeChat simulator push to our callback receiver (and answer the pull API), the relay sends for real,
and the warehouse ends in the right state however often a report arrives."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
import requests
import sqlalchemy as sa

from tests.support import free_port
from zxt.core.settings import BUREAU_TZ, get_settings

NOW = datetime(2026, 11, 13, 10, 0, tzinfo=BUREAU_TZ)
USCC = ("914403001922038216", "91420981MA4F0P2X1B", "91420981MA4F0P2X2C", "91420981MA4F0P2X3D")
OK, UNDELIVERABLE, REPLIER, SLOWPOKE = "13800000011", "13800000012", "13800000013", "13800000014"
OPENID = "o" + "F" * 27
PARAMS = ["甲公司", "增值税", "2026年10月", "11月16日"]


@pytest.fixture(scope="module")
def seeded(engine):
    from tests.support import reset_warehouse
    from zxt.transform import dbt_runner as dbt_cli

    reset_warehouse(engine)
    dbt_cli.invoke(["seed", "--select", "message_templates"])
    # The contact data fallback reads (built by dbt in a night; here the rows it would hold).
    with engine.begin() as conn:
        conn.execute(sa.text("create schema if not exists int"))
        conn.execute(
            sa.text(
                """create table int.int_contacts__reachable as
                   select * from (values
                     (:u0, '张三', :ok, true, 'o' || repeat('A', 27), true),
                     (:u1, '李四', :und, true, :openid, true),
                     (:u2, '王五', :rep, true, null, false),
                     (:u3, '赵六', :slow, true, null, false)
                   ) as c (uscc, contact_name, contact_mobile, sms_reachable, wechat_openid, wechat_reachable)"""
            ),
            {
                "u0": USCC[0],
                "u1": USCC[1],
                "u2": USCC[2],
                "u3": USCC[3],
                "ok": OK,
                "und": UNDELIVERABLE,
                "rep": REPLIER,
                "slow": SLOWPOKE,
                "openid": OPENID,
            },
        )
    return engine


@pytest.fixture
def providers(seeded):
    """Our callback receiver, and both simulators pushing to it."""
    from zxt.delivery import callbacks
    from zxt_sandbox import sms_gateway, wechat_gateway

    with seeded.begin() as conn:
        conn.execute(
            sa.text(
                "truncate delivery.outbox, delivery.send_attempts, delivery.suppression, delivery.receipts, "
                "delivery.replies, delivery.followups, ops.delivery_rates, delivery.provider_tokens, "
                "delivery.channel_state, delivery.recipient_day, "
                "raw.contact__consents cascade"
            )
        )
    settings = get_settings().with_(clock__now_override=NOW)  # the bureau's clock during the pushes
    receiver, thread = callbacks.serve(settings, "127.0.0.1", 0)
    sms_config = sms_gateway.SimulatorConfig.from_dict(
        {
            "status_callback_url": receiver.url + "/sms/status",
            "reply_callback_url": receiver.url + "/sms/reply",
            "undeliverable": {UNDELIVERABLE: "UNDELIV"},
        }
    )
    sms = sms_gateway.SimulatorHandle.start(sms_config, "127.0.0.1", free_port())
    wx_config = wechat_gateway.WeChatConfig.from_dict(
        {"callback_url": receiver.url + "/wechat", "blocked": ["o" + "A" * 27]}
    )
    wx = wechat_gateway.WeChatHandle.start(wx_config, "127.0.0.1", free_port())
    settings = settings.with_(sms__endpoint=sms.url, wechat__endpoint=wx.url)
    yield settings, sms, wx, receiver
    sms.close()
    wx.close()
    receiver.shutdown()
    receiver.server_close()
    thread.join(timeout=5)


def stage(
    engine, uscc: str, recipient: str, channel: str = "sms", valid_for: timedelta = timedelta(days=1)
) -> int:
    template = "2400001" if channel == "sms" else "Zx7kVd2nQm4TfA9bLr3cWp8yHs6uGe1oJi5NtKq0Xb2"
    with engine.begin() as conn:
        return conn.execute(
            sa.text(
                """insert into delivery.outbox (idempotency_key, as_of_date, uscc, reminder_type, subject,
                     channel, recipient, template_code, provider_template_id, template_params,
                     valid_from, valid_until)
                   values (encode(sha256(convert_to(:k, 'UTF8')), 'hex'), '2026-11-12', :u, 'filing_due_soon',
                           'VAT:2026-10', :c, :r, 'FILING_DUE_SOON', :t, :p, :vf, :vu)
                   returning outbox_id"""
            ),
            {
                "k": f"{uscc}|{channel}|{recipient}",
                "u": uscc,
                "c": channel,
                "r": recipient,
                "t": template,
                "p": json.dumps(PARAMS, ensure_ascii=False),
                "vf": NOW - timedelta(hours=2),
                "vu": NOW + valid_for,
            },
        ).scalar_one()


def outbox(engine) -> dict[tuple[str, str], str]:
    with engine.connect() as conn:
        return {
            (c, r): s
            for c, r, s in conn.execute(sa.text("select channel, recipient, status from delivery.outbox"))
        }


def test_pushed_receipts_settle_sends_and_a_failed_text_falls_back_to_wechat(seeded, providers):
    from zxt.delivery import feedback, relay

    settings, sms, _wx, receiver = providers
    stage(seeded, USCC[0], OK)
    stage(seeded, USCC[1], UNDELIVERABLE)
    stats = relay.run_relay(NOW, settings)
    assert stats.outcomes["submitted"] == 2
    assert sms.drain_feedback()
    # A report that overtook the relay's own commit waits in delivery.receipts for the next pass.
    feedback.run_feedback(NOW + timedelta(minutes=1), settings, pull_provider=False)
    assert outbox(seeded) == {
        ("sms", OK): "delivered",
        ("sms", UNDELIVERABLE): "failed",
        # The carrier failed the text; the contact follows the account: WeChat is queued.
        ("wechat", OPENID): "queued",
    }
    with seeded.connect() as conn:
        row = conn.execute(
            sa.text(
                """select o.receipt_code, o.last_error_code, f.fallback_of = o.outbox_id, f.valid_until = o.valid_until
                   from delivery.outbox o join delivery.outbox f on f.fallback_of = o.outbox_id"""
            )
        ).one()
        assert tuple(row) == ("UNDELIV", "Receipt.UNDELIV", True, True)
        delivered_at = conn.execute(
            sa.text("select delivered_at from delivery.outbox where recipient = :m"), {"m": OK}
        ).scalar()
        assert delivered_at is not None

    # Tencent pushes duplicates, and the pull API reports the same messages again: nothing changes.
    first = sms.state.messages()[0]
    dup = [
        {
            "user_receive_time": "2026-11-13 10:00:05",
            "nationcode": "86",
            "mobile": first["phone"],
            "report_status": "SUCCESS",
            "errmsg": "DELIVRD",
            "description": "用户短信送达成功",
            "sid": first["serial_no"],
        }
    ]
    for _ in range(2):
        r = requests.post(receiver.url + "/sms/status", json=dup, timeout=5)
        assert r.json() == {"result": 0, "errmsg": "OK"}
    run = feedback.run_feedback(NOW + timedelta(minutes=15), settings)
    assert run.receipts_pulled == 2 and run.receipts_new == 0 and run.pull_errors == []
    with seeded.connect() as conn:
        seen = dict(
            conn.execute(sa.text("select provider_message_id, times_seen from delivery.receipts")).all()
        )
    assert seen[first["serial_no"]] >= 3 and len(seen) == 2
    assert outbox(seeded)[("sms", OK)] == "delivered"


def test_an_unknown_outcome_is_reconciled_from_the_pull_api(seeded, providers):
    from zxt.delivery import feedback, relay

    settings, sms, _wx, _receiver = providers
    # The gateway accepts, then answers too late: the relay cannot know whether the text went out.
    sms.state.config.answer_delay_s = 1.0
    sms.state.config.status_callback_url = None  # no push: only the pull API can tell
    sms.state.feedback.status_callback_url = None
    outbox_id = stage(seeded, USCC[3], SLOWPOKE)
    stats = relay.run_relay(NOW, settings.with_(sms__timeout_s=0.3))
    assert stats.outcomes["unknown"] == 1
    assert outbox(seeded)[("sms", SLOWPOKE)] == "unknown"
    assert len(sms.state.messages()) == 1  # it did go out

    run = feedback.run_feedback(NOW + timedelta(minutes=15), settings)
    assert run.applied["reconciled_unknown"] == 1
    with seeded.connect() as conn:
        status, serial = conn.execute(
            sa.text("select status, provider_message_id from delivery.outbox where outbox_id = :i"),
            {"i": outbox_id},
        ).one()
    assert status == "delivered" and serial == sms.state.messages()[0]["serial_no"]
    # Never resent.
    relay.run_relay(NOW + timedelta(minutes=30), settings)
    assert len(sms.state.messages()) == 1


def test_an_opt_out_reply_is_suppressed_at_once_and_honoured_at_send_time(seeded, providers):
    from zxt.delivery import feedback, relay

    settings, sms, _wx, _receiver = providers
    stage(seeded, USCC[2], REPLIER)
    relay.run_relay(NOW, settings)
    # A second reminder for the same number waits in the queue.
    with seeded.begin() as conn:
        conn.execute(
            sa.text(
                """insert into delivery.outbox (idempotency_key, as_of_date, uscc, reminder_type, subject, channel,
                     recipient, template_code, provider_template_id, template_params, valid_from, valid_until)
                   select md5('second') || md5('second'), as_of_date, uscc, reminder_type, 'VAT:2026-11', channel,
                          recipient, template_code, provider_template_id, template_params, valid_from, valid_until
                   from delivery.outbox where recipient = :m"""
            ),
            {"m": REPLIER},
        )
    sms.reply(REPLIER, " td。")  # case, spaces and punctuation do not hide an opt-out
    assert sms.drain_feedback()
    feedback.run_feedback(NOW + timedelta(minutes=1), settings, pull_provider=False)
    with seeded.connect() as conn:
        assert (
            conn.execute(
                sa.text("select reason from delivery.suppression where channel = 'sms' and recipient = :m"),
                {"m": REPLIER},
            ).scalar()
            == "opt-out reply"
        )
        statuses = conn.execute(
            sa.text("select subject, status from delivery.outbox where recipient = :m order by subject"),
            {"m": REPLIER},
        ).all()
    assert [tuple(s) for s in statuses] == [("VAT:2026-10", "delivered"), ("VAT:2026-11", "suppressed")]
    # A reminder queued after the opt-out (staging raced the reply) is refused at send time.
    with seeded.begin() as conn:
        conn.execute(
            sa.text(
                "update delivery.outbox set status = 'queued' where subject = 'VAT:2026-11' and recipient = :m"
            ),
            {"m": REPLIER},
        )
    relay.run_relay(NOW + timedelta(minutes=15), settings)
    assert len([m for m in sms.state.messages() if m["phone"] == REPLIER]) == 1
    assert outbox(seeded)[("sms", REPLIER)] in {"delivered", "suppressed"}


def test_replies_are_pulled_when_no_callback_came_and_kept_once(seeded, providers):
    from zxt.delivery import feedback

    settings, sms, _wx, _receiver = providers
    sms.state.feedback.reply_callback_url = None
    sms.reply(REPLIER, "已申报，谢谢")
    sms.reply(OK, "退订")
    run = feedback.run_feedback(NOW, settings)
    assert run.replies_pulled == 2 and run.opt_outs == 1
    with seeded.connect() as conn:
        assert conn.execute(sa.text("select recipient from delivery.suppression")).scalars().all() == [OK]
        assert conn.execute(sa.text("select count(*) from delivery.replies")).scalar() == 2
    assert feedback.run_feedback(NOW, settings).replies_pulled == 0


def test_wechat_job_finish_events_settle_sends_and_a_block_falls_back_to_sms(seeded, providers):
    from zxt.delivery.channels import wechat

    settings, _sms, wx, receiver = providers
    blocked, follower = "o" + "A" * 27, OPENID
    client = wechat.WeChatClient(seeded, settings)
    for uscc, openid in ((USCC[0], blocked), (USCC[1], follower)):
        outbox_id = stage(seeded, uscc, openid, channel="wechat")
        r = client.send(
            openid,
            "Zx7kVd2nQm4TfA9bLr3cWp8yHs6uGe1oJi5NtKq0Xb2",
            ["thing1", "thing2", "thing3", "time4"],
            PARAMS,
            client_msg_id=str(outbox_id),
        )
        with seeded.begin() as conn:
            conn.execute(
                sa.text(
                    "update delivery.outbox set status = 'submitted', provider_message_id = :p where outbox_id = :i"
                ),
                {"p": r.msgid, "i": outbox_id},
            )
    assert wx.drain_events()
    from zxt.delivery import feedback

    feedback.run_feedback(NOW, settings, pull_provider=False)
    assert outbox(seeded) == {
        ("wechat", blocked): "failed",  # "failed:user block"
        ("wechat", follower): "delivered",
        ("sms", OK): "queued",  # the blocked follower's contact is reached by text instead
    }
    # An event with a wrong signature is refused; a DTD is refused.
    bad = requests.post(receiver.url + "/wechat?signature=00&timestamp=1&nonce=2", data=b"<xml/>", timeout=5)
    assert bad.status_code == 403
    from zxt.delivery.channels.wechat import event_signature

    sig = event_signature(settings.wechat.callback_token, "1", "2")
    evil = b'<!DOCTYPE x [<!ENTITY a "b">]><xml>&a;</xml>'
    assert (
        requests.post(
            f"{receiver.url}/wechat?signature={sig}&timestamp=1&nonce=2", data=evil, timeout=5
        ).status_code
        == 400
    )
    echo = requests.get(f"{receiver.url}/wechat?signature={sig}&timestamp=1&nonce=2&echostr=hello", timeout=5)
    assert echo.text == "hello"


def test_unconfirmed_reminders_are_marked_for_phone_follow_up_and_rates_reported(seeded, providers):
    from zxt.delivery import feedback, relay

    settings, sms, _wx, _receiver = providers
    sms.state.config.status_callback_url = None
    sms.state.feedback.status_callback_url = None
    sms.state.feedback.reset()  # receipts are lost altogether: nothing to pull either
    stage(seeded, USCC[0], OK, valid_for=timedelta(hours=1))
    stage(seeded, USCC[3], SLOWPOKE, valid_for=timedelta(hours=1))
    relay.run_relay(NOW, settings)
    sms.state.feedback.reset()
    with seeded.begin() as conn:  # one receipt did arrive
        conn.execute(
            sa.text(
                """insert into delivery.receipts (channel, provider_message_id, report_status, code, via)
                   select 'sms', provider_message_id, 'delivered', 'DELIVRD', 'callback'
                   from delivery.outbox where recipient = :m"""
            ),
            {"m": OK},
        )
    during = feedback.run_feedback(NOW + timedelta(minutes=30), settings)
    assert during.followups_marked == 0  # still within the validity window
    after = feedback.run_feedback(NOW + timedelta(hours=2), settings)
    assert after.followups_marked == 1
    with seeded.connect() as conn:
        marked = conn.execute(sa.text("select uscc, last_statuses from delivery.followups")).all()
        rate = conn.execute(
            sa.text(
                "select sent, delivered, awaiting_receipt, delivery_rate from ops.delivery_rates "
                "where as_of_date = '2026-11-12' and channel = 'sms'"
            )
        ).one()
    assert [tuple(m) for m in marked] == [(USCC[3], "sms:submitted")]
    assert tuple(rate) == (2, 1, 1, pytest.approx(0.5))
    assert feedback.run_feedback(NOW + timedelta(hours=3), settings).followups_marked == 0  # once


def test_the_relay_sends_by_wechat_and_a_non_follower_falls_back_to_sms(seeded, providers):
    from zxt.delivery import feedback, relay

    settings, sms, wx, _receiver = providers
    follower, stranger = OPENID, "o" + "A" * 27
    wx.state.set_faults({"not_following": [stranger], "blocked": []})
    stage(seeded, USCC[1], follower, channel="wechat")
    stage(seeded, USCC[0], stranger, channel="wechat")
    stats = relay.run_relay(NOW, settings)
    assert stats.outcomes["submitted"] == 1 and stats.outcomes["failed"] == 1
    [sent] = wx.messages()
    assert sent["openid"] == follower and sent["values"]["thing1"] == "甲公司"
    with seeded.connect() as conn:
        key, code = conn.execute(
            sa.text("select idempotency_key, last_error_code from delivery.outbox where recipient = :r"),
            {"r": stranger},
        ).one()
        follower_key = conn.execute(
            sa.text("select idempotency_key from delivery.outbox where recipient = :r"), {"r": follower}
        ).scalar()
    assert code == "43004" and sent["client_msg_id"] == follower_key

    run = feedback.run_feedback(NOW + timedelta(minutes=1), settings, pull_provider=False)
    assert run.fallbacks == 1
    assert outbox(seeded)[("sms", OK)] == "queued"  # the non-follower's mobile, from the contact data
    relay.run_relay(NOW + timedelta(minutes=2), settings)
    assert [m["phone"] for m in sms.state.messages()] == [OK]
    # Rerunning the sweep adds nothing.
    assert feedback.run_feedback(NOW + timedelta(minutes=3), settings, pull_provider=False).fallbacks == 0


def test_a_daily_quota_pauses_wechat_until_midnight_for_every_worker(seeded, providers):
    from zxt.delivery import relay

    settings, sms, wx, _receiver = providers
    settings = settings.with_(clock__now_override=NOW)
    wx.state.set_faults({"daily_quota": 0, "blocked": []})
    stage(seeded, USCC[1], OPENID, channel="wechat")
    relay.run_relay(NOW, settings)
    with seeded.connect() as conn:
        paused = conn.execute(
            sa.text("select paused_until from delivery.channel_state where channel = 'wechat'")
        ).scalar()
    assert paused == datetime(2026, 11, 14, tzinfo=BUREAU_TZ)
    wx.state.set_faults({"daily_quota": None})
    # Another reminder an hour later is held back without asking WeChat; SMS still goes out.
    stage(seeded, USCC[0], "o" + "Z" * 27, channel="wechat")
    stage(seeded, USCC[3], SLOWPOKE)
    later = NOW + timedelta(hours=1)
    relay.run_relay(later, settings.with_(clock__now_override=later))
    assert wx.messages() == []
    assert [m["phone"] for m in sms.state.messages()] == [SLOWPOKE]
    assert outbox(seeded)[("wechat", "o" + "Z" * 27)] == "queued"


def test_the_pull_api_is_signed_and_refuses_bad_credentials(seeded, providers):
    from zxt.delivery import feedback
    from zxt.delivery.channels import tencent_sms_pull as pull

    settings, _sms, _wx, _receiver = providers
    wrong = settings.with_(sms__secret_key="not-the-secret")
    with pytest.raises(pull.PullError, match="AuthFailure.SignatureFailure"):
        pull.TencentSmsPuller(wrong).pull(pull.SEND_STATUS)
    # The feedback run still settles, marks and reports; the DAG task fails to make the pull visible.
    run = feedback.run_feedback(NOW, wrong)
    assert run.pull_errors and "AuthFailure" in run.pull_errors[0]
    assert run.rates == [] or all(r["channel"] in {"sms", "wechat"} for r in run.rates)


def test_a_wechat_opt_out_known_at_send_time_is_honoured(seeded, providers):
    from zxt.delivery import relay

    settings, _sms, wx, _receiver = providers
    wx.state.set_faults({"blocked": []})
    listed, consented_out = "o" + "L" * 27, OPENID
    with seeded.begin() as conn:
        conn.execute(
            sa.text(
                "insert into delivery.suppression (channel, recipient, reason) values ('wechat', :o, 'test')"
            ),
            {"o": listed},
        )
        # The registry binds the openid to a mobile whose latest WeChat consent event is an opt-out.
        conn.execute(
            sa.text(
                """insert into raw.tax__taxpayers (uscc, contact_mobile, wechat_openid,
                     _batch_id, _source_file, _row_number, _drop_date)
                   values (:u, :m, :o, gen_random_uuid(), 'taxpayers.csv', 1, '2026-11-12')"""
            ),
            {"u": USCC[1], "m": UNDELIVERABLE, "o": consented_out},
        )
        for n, (kind, day) in enumerate((("opt_in", "2026-01-05"), ("opt_out", "2026-11-12")), 1):
            conn.execute(
                sa.text(
                    """insert into raw.contact__consents (event_id, uscc, contact_mobile, channel, event_type,
                         event_date, _batch_id, _source_file, _row_number, _drop_date)
                       values (:e, :u, :m, 'wechat', :k, :d, gen_random_uuid(), 'consents.csv', :n, :d)"""
                ),
                {"e": f"CE-{n}", "u": USCC[1], "m": UNDELIVERABLE, "k": kind, "d": day, "n": n},
            )
    stage(seeded, USCC[0], listed, channel="wechat")
    stage(seeded, USCC[1], consented_out, channel="wechat")
    relay.run_relay(NOW, settings)
    assert wx.messages() == []
    assert outbox(seeded) == {("wechat", listed): "suppressed", ("wechat", consented_out): "suppressed"}
    with seeded.begin() as conn:
        conn.execute(sa.text("truncate raw.tax__taxpayers"))
