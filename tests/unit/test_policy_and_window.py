"""Who may be messaged when: the business-date rule, the send window, template rendering."""

from datetime import date, datetime

import pytest

from zxt.core import delivery_policy
from zxt.core.settings import BUREAU_TZ, Settings
from zxt.delivery.relay import forbidden_words, in_send_window


@pytest.fixture
def settings():
    return Settings().with_(clock__today_override=date(2026, 11, 13))


def test_current_business_date_is_yesterday_in_guangshui(settings):
    assert settings.clock.current_business_date() == date(2026, 11, 12)


@pytest.mark.parametrize(
    ("as_of", "run_type", "deliver"),
    [
        (date(2026, 11, 12), "scheduled", True),
        (date(2026, 11, 12), "manual", True),
        (date(2026, 11, 12), "backfill", False),  # a backfill never sends, even for today's date
        (date(2026, 11, 11), "scheduled", False),  # catch-up of an older date
        (date(2026, 11, 13), "manual", False),  # a date that has not closed yet
    ],
)
def test_delivery_only_for_current_business_date_and_never_backfill(settings, as_of, run_type, deliver):
    decision = delivery_policy.decide(as_of, run_type, settings)
    assert decision.deliver is deliver
    assert str(as_of) in decision.reason


@pytest.mark.parametrize(
    ("hour", "minute", "inside"),
    [
        (7, 59, False),
        (8, 0, True),
        (12, 30, True),
        (20, 59, True),
        (21, 0, False),
        (23, 0, False),
        (0, 30, False),
    ],
)
def test_send_window_is_08_to_21_shanghai(hour, minute, inside):
    now = datetime(2026, 11, 13, hour, minute, tzinfo=BUREAU_TZ)
    assert in_send_window(now, Settings()) is inside


def test_send_window_uses_shanghai_time_whatever_the_input_zone():
    from zoneinfo import ZoneInfo

    # 01:00 UTC is 09:00 in Guangshui.
    assert in_send_window(datetime(2026, 11, 13, 1, 0, tzinfo=ZoneInfo("UTC")), Settings())
    assert not in_send_window(datetime(2026, 11, 13, 13, 30, tzinfo=ZoneInfo("UTC")), Settings())


def test_sms_templates_in_the_seed_carry_no_finance_wording():
    import csv
    from pathlib import Path

    seed = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds" / "message_templates.csv"
    rows = [r for r in csv.DictReader(seed.open(encoding="utf-8")) if r["channel"] == "sms"]
    assert rows and "贷" in forbidden_words("sms")
    for r in rows:
        assert not any(w in r["text_zh"] for w in forbidden_words("sms")), r["template_code"]
        assert "拒收请回复R" in r["text_zh"]
        assert r["text_zh"].count("{") == int(r["param_count"])


def test_the_bureau_clock_can_be_set_for_a_replay(monkeypatch):
    monkeypatch.setenv("ZXT_NOW", "2026-11-13T10:00:00+08:00")
    s = Settings()
    assert s.clock.now() == datetime(2026, 11, 13, 10, 0, tzinfo=BUREAU_TZ)
    assert s.clock.today() == date(2026, 11, 13) and s.clock.current_business_date() == date(2026, 11, 12)
    monkeypatch.setenv("ZXT_NOW", "2026-11-13T10:00:00")  # no zone: Guangshui time
    assert Settings().clock.now().utcoffset().total_seconds() == 8 * 3600
