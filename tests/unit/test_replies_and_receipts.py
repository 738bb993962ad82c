"""Opt-out words, receipt and event parsing, and WeChat's error classes (no I/O)."""

from __future__ import annotations

from datetime import datetime

import pytest

from zxt.core.settings import BUREAU_TZ


@pytest.mark.parametrize("text", ["R", "r", "TD", " td。", "ＴＤ", "退订", "退订！", "Ｒ"])
def test_opt_out_replies(text):
    from zxt.delivery.replies import is_opt_out

    assert is_opt_out(text)


@pytest.mark.parametrize("text", ["", "已申报", "请问怎么补报", "RTD", "不要退订", "TD R", "收到"])
def test_other_replies_are_not_opt_outs(text):
    from zxt.delivery.replies import is_opt_out

    assert not is_opt_out(text)


def test_tencent_status_callback_is_read_in_beijing_time():
    from zxt.delivery.receipts import from_sms_callback

    [r] = from_sms_callback(
        [
            {
                "user_receive_time": "2026-11-13 08:03:04",
                "nationcode": "86",
                "mobile": "13800000001",
                "report_status": "FAIL",
                "errmsg": "MK:0001",
                "description": "用户短信未送达",
                "sid": "5000:104571066915705365784",
            }
        ]
    )
    assert (r.provider_message_id, r.delivered, r.code) == ("5000:104571066915705365784", False, "MK:0001")
    assert r.user_received_at == datetime(2026, 11, 13, 8, 3, 4, tzinfo=BUREAU_TZ)


def test_wechat_job_finish_statuses():
    from zxt.delivery.receipts import from_wechat_event

    ok = from_wechat_event("200163836", "success", 1395658920, "oX")
    blocked = from_wechat_event("200163840", "failed:user block", 1395658920, "oX")
    system = from_wechat_event("200163841", "failed: system failed", 1395658920, "oX")
    assert ok.delivered and not blocked.delivered and not system.delivered
    assert (blocked.code, system.code) == ("user block", "system failed")


def test_wechat_errcodes_by_class():
    from zxt.delivery.channels import wechat as w

    assert w.classify(0) == w.SUBMITTED
    assert w.classify(43004) == w.classify(43101) == w.classify(40003) == w.PERMANENT
    assert w.classify(45009) == w.PAUSE_CHANNEL
    assert w.classify(-1) == w.classify(40001) == w.classify("HTTP.500") == w.RETRY
    assert w.classify(w.CONNECT_ERROR) == w.NOT_SENT
    assert w.classify(w.READ_TIMEOUT) == w.classify("HTTP.504") == w.UNKNOWN


def test_wechat_event_signature_matches_the_documented_algorithm():
    import hashlib

    from zxt.delivery.channels.wechat import event_signature

    expected = hashlib.sha1("".join(sorted(["tok", "1700000000", "42"])).encode()).hexdigest()
    assert event_signature("tok", "1700000000", "42") == expected


def test_a_wechat_quota_lasts_until_beijing_midnight():
    from zxt.delivery.channels import wechat as w

    assert w.until_bureau_midnight(datetime(2026, 11, 13, 15, 30, tzinfo=BUREAU_TZ)) == datetime(
        2026, 11, 14, tzinfo=BUREAU_TZ
    )
