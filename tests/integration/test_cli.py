"""The `zxt` command drives the same functions as the DAG tasks."""

from __future__ import annotations

from typer.testing import CliRunner

from zxt.cli.main import app
from zxt.ingest import contracts

runner = CliRunner()


def test_synth_writes_every_contracted_dataset(tmp_path):
    result = runner.invoke(
        app,
        [
            "synth",
            "--out",
            str(tmp_path),
            "--start",
            "2026-11-11",
            "--end",
            "2026-11-12",
            "--enterprises",
            "60",
        ],
    )
    assert result.exit_code == 0, result.output
    for name in contracts.load_contracts():
        assert sorted(p.parent.name for p in (tmp_path / name).glob("*/*.csv")) == [
            "2026-11-11",
            "2026-11-12",
        ]


def test_delivery_commands_refuse_a_date_that_is_not_the_current_business_date(engine, monkeypatch):
    from zxt.core.settings import reset_settings

    monkeypatch.setenv("ZXT_TODAY", "2026-11-13")
    reset_settings()
    try:
        for command in ("stage-reminders", "bank-drop"):
            result = runner.invoke(app, [command, "--date", "2026-11-01"])
            assert result.exit_code == 0
            assert "not the current business date" in result.output
    finally:
        monkeypatch.delenv("ZXT_TODAY")
        reset_settings()


def test_warehouse_status_names_the_server(engine):
    result = runner.invoke(app, ["warehouse", "status"])
    assert result.exit_code == 0 and "running" in result.output and "***" in result.output


def test_outbox_replay_refuses_statuses_that_may_have_been_sent(engine):
    result = runner.invoke(app, ["outbox", "replay", "--status", "unknown"])
    assert result.exit_code == 2 and "may have reached the person" in result.output
    result = runner.invoke(app, ["outbox", "replay", "--status", "dead", "--since", "2026-11-13T08:00"])
    assert result.exit_code == 0, result.output
    assert '"statuses": [' in result.output and '"requeued"' in result.output


def test_feedback_run_reports_rates_and_fails_when_the_provider_cannot_be_pulled(engine, monkeypatch):
    import json

    from tests.support import free_port
    from zxt.core.settings import reset_settings

    # Nothing listens on this port: the pull fails, the local settling still runs, the exit code says so.
    monkeypatch.setenv("ZXT_SMS_ENDPOINT", f"http://127.0.0.1:{free_port()}/")
    reset_settings()
    try:
        failed = runner.invoke(app, ["feedback", "run", "--at", "2026-11-13T10:00:00+08:00"])
        assert failed.exit_code == 1, failed.output
        assert "PullSmsSendStatus" in failed.output
        ok = runner.invoke(app, ["feedback", "run", "--no-pull", "--at", "2026-11-13T10:00:00+08:00"])
        assert ok.exit_code == 0, ok.output
        assert json.loads(ok.output)["pull_errors"] == []
        listed = runner.invoke(app, ["feedback", "followups"])
        assert listed.exit_code == 0 and isinstance(json.loads(listed.output), list)
    finally:
        monkeypatch.delenv("ZXT_SMS_ENDPOINT")
        reset_settings()
