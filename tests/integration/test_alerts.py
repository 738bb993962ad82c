"""Alerts over the real protocols: a WeCom group robot webhook (HTTP + JSON) and SMTP, against the
loopback receivers of the sandbox; what an alert says, and what it must never say."""

from __future__ import annotations

import pytest

from zxt.core.settings import Settings
from zxt.orchestration import alerts


@pytest.fixture
def receivers(tmp_path):
    from zxt_sandbox.alert_receivers import Receivers

    r = Receivers(record_dir=tmp_path)
    yield r
    r.close()


def _settings(receivers) -> Settings:
    env = receivers.env
    return Settings().with_(
        alerts__wecom_webhook_url=env["ZXT_ALERT_WECOM_URL"],
        alerts__smtp_host=env["ZXT_ALERT_SMTP_HOST"],
        alerts__smtp_port=int(env["ZXT_ALERT_SMTP_PORT"]),
        alerts__mail_to="oncall@bureau.local, lead@bureau.local",
    )


ALERT = alerts.Alert(
    kind="gate_failed",
    dag_id="zxt_nightly",
    task_id="mart_gate[0]",
    run_id="backfill__2026-11-11T17:30:00+00:00",
    business_date="2026-11-11",
    # A careless exception text: a taxpayer's mobile and USCC must not leave the building.
    reason="GateFailed: mart gate credit_warning 2026-11-11: FAILED contact_mobile 13912345678 of "
    "91420981MA4F2K3X1Q broke expect_column_values_to_match_regex",
    log_url="http://127.0.0.1:8080/dags/zxt_nightly/runs/x/tasks/mart_gate",
)


def test_an_alert_reaches_the_robot_and_the_mailbox_without_taxpayer_data(receivers):
    out = alerts.send(ALERT, _settings(receivers))
    assert out == {"wecom": "sent", "email": "sent"}
    (robot,) = receivers.robot_messages
    assert robot["msgtype"] == "markdown"
    (mail,) = receivers.mails
    assert mail["to"] == ["oncall@bureau.local", "lead@bureau.local"]
    assert mail["subject"] == ALERT.title and "2026-11-11" in mail["subject"]
    for text in (robot["content"], mail["body"]):
        for must in (
            "zxt_nightly",
            "mart_gate[0]",
            "2026-11-11",
            "expect_column_values_to_match_regex",
            ALERT.log_url,
        ):
            assert must in text, (must, text)
        assert "13912345678" not in text and "91420981MA4F2K3X1Q" not in text


def test_a_refused_or_missing_channel_does_not_stop_the_other(receivers):
    s = _settings(receivers).with_(alerts__wecom_webhook_url=receivers.env["ZXT_ALERT_WECOM_URL"] + "-wrong")
    out = alerts.send(ALERT, s)
    assert out["wecom"].startswith("failed: errcode 93000") and out["email"] == "sent"
    assert alerts.send(ALERT, Settings().with_(alerts__wecom_webhook_url="", alerts__smtp_host="")) == {
        "wecom": "skipped",
        "email": "skipped",
    }
    # Nothing listening: reported as failed, not raised.
    down = _settings(receivers).with_(alerts__smtp_port=1, alerts__timeout_s=2.0)
    assert alerts.send(ALERT, down)["email"].startswith("failed")


def test_long_reasons_are_cut_short():
    assert len(alerts.scrub("x" * 5000)) == alerts.MAX_REASON


def test_the_failure_callback_names_task_date_and_log(receivers, monkeypatch):
    """The on_failure_callback the DAGs use, with the context Airflow hands it."""
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from zxt.core import settings as settings_mod
    from zxt.orchestration import callbacks

    for k, v in receivers.env.items():
        monkeypatch.setenv(k, v)
    settings_mod.reset_settings()
    try:
        ti = SimpleNamespace(
            dag_id="zxt_nightly",
            task_id="source_gate",
            map_index=-1,
            run_id="scheduled__2026-11-12T17:30:00+00:00",
            log_url="http://127.0.0.1:8080/dags/zxt_nightly/runs/r/tasks/source_gate",
        )
        callbacks.task_failed(
            {
                "ti": ti,
                "exception": RuntimeError("tax/filings: no drop for 2026-11-12"),
                "logical_date": datetime(2026, 11, 12, tzinfo=UTC),
            }
        )
    finally:
        settings_mod.reset_settings()
    (robot,) = receivers.robot_messages
    assert "source_gate gate failed" in robot["content"] and "business date 2026-11-12" in robot["content"]
    assert "tax/filings: no drop for 2026-11-12" in robot["content"]
