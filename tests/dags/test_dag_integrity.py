"""DAG integrity: the DagBag imports cleanly, without touching the network or a database at parse time."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
EXPECTED = {"zxt_nightly", "zxt_outreach_relay", "zxt_feedback"}


@pytest.fixture(scope="module")
def dagbag():
    from zxt.transform import dbt_runner as dbt_cli

    manifest = DAGS.parent / "dbt_project" / "target" / "manifest.json"
    if not manifest.exists():
        dbt_cli.parse()  # a build artefact the nightly DAG renders from (make install writes it too)

    # Parse-time I/O is a bug: any network, database or subprocess call fails the parse loudly.
    def forbidden(what):
        def guard(*args, **kwargs):
            raise AssertionError(f"DAG parsing attempted {what}")

        return guard

    import subprocess

    import psycopg
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import DAG  # noqa: F401  library imports (croniter probes the platform) come first

    patches = [
        (socket.socket, "connect", forbidden("a socket connection")),
        (socket.socket, "connect_ex", forbidden("a socket connection")),
        (socket, "create_connection", forbidden("a socket connection")),
        (socket, "getaddrinfo", forbidden("a DNS lookup")),
        (psycopg, "connect", forbidden("a PostgreSQL connection")),
        (subprocess.Popen, "__init__", forbidden("starting a process")),
    ]
    saved = [(obj, name, getattr(obj, name)) for obj, name, _ in patches]
    for obj, name, guard in patches:
        setattr(obj, name, guard)
    import os

    before = dict(os.environ)
    try:
        bag = DagBag(dag_folder=str(DAGS))
        bag.env_changed = {k for k in os.environ if os.environ[k] != before.get(k)}
        return bag
    finally:
        for obj, name, real in saved:
            setattr(obj, name, real)


def test_dags_import_without_errors_or_parse_time_io(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == EXPECTED


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_dag_conventions(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert dag.tags and "zxt" in dag.tags
    assert dag.doc_md and len(dag.doc_md) > 200
    assert dag.max_active_runs == 1
    assert dag.catchup is False
    assert str(dag.timezone) in {"Asia/Shanghai", "Timezone('Asia/Shanghai')"}
    for t in dag.tasks:
        assert t.owner == "zxt-data", t.task_id
        assert t.retries >= 1, t.task_id


def test_nightly_order_gates_delivery(dagbag):
    dag = dagbag.dags["zxt_nightly"]
    assert "30 1 * * *" in _serialized(dag).timetable.summary
    publish = dag.get_task("publish")
    assert {t.task_id for t in publish.downstream_list} == {"stage_reminders", "bank_drop"}
    assert "mart_gate" in publish.upstream_task_ids
    dbt_tasks = [t for t in dag.tasks if t.task_id.startswith("dbt.")]
    assert any(t.task_id == "dbt.credit_warning.run" for t in dbt_tasks)
    # One gate per gated mart, mapped at run time from the registry (not known at parse time).
    gate = dag.get_task("mart_gate")
    assert type(gate).__name__.endswith("MappedOperator")
    assert gate.upstream_task_ids == {"gated_marts"}
    assert any(u.startswith("dbt.") for u in dag.get_task("gated_marts").upstream_task_ids)
    # A failed gate (or any failure upstream) must stop publish and delivery; a gate skipped because
    # its mart's inputs were blocked must not stop the other marts from publishing.
    assert publish.trigger_rule == "none_failed"
    for task_id in ("gated_marts", "mart_gate", "stage_reminders", "bank_drop"):
        assert dag.get_task(task_id).trigger_rule == "all_success", task_id
    # The dbt build runs inside the build lease, released however the build ends.
    first_models = [t for t in dbt_tasks if "acquire_build_lease" in t.upstream_task_ids]
    assert first_models and all(t.task_id.startswith("dbt.") for t in first_models)
    release = dag.get_task("release_build_lease")
    assert release.trigger_rule == "all_done_min_one_success"
    assert "acquire_build_lease" in release.upstream_task_ids
    assert all(u.startswith("dbt.") for u in release.upstream_task_ids - {"acquire_build_lease"})


def test_dbt_tests_never_run_before_the_nodes_they_read(dagbag):
    """Under the scheduler, a test attached to one parent raced its other parents (found by the
    scheduler e2e): a test reading unrelated nodes is its own task after all of them, and a model's
    test task selects only tests whose other parents are its ancestors (buildable)."""
    dag = dagbag.dags["zxt_nightly"]
    detached = dag.get_task("dbt.assert_sms_templates_have_no_finance_wording_test")
    assert detached.upstream_task_ids == {"dbt.forbidden_wording.test", "dbt.message_templates.test"}
    for t in dag.tasks:
        if t.task_id.startswith("dbt.") and t.task_id.endswith(".test"):
            assert t.indirect_selection == "buildable", t.task_id


def _serialized(dag):
    from airflow.serialization.serialized_objects import DagSerialization

    return DagSerialization.from_dict(DagSerialization.to_dict(dag))


@pytest.mark.parametrize("ui_timezone", ["UTC", "Asia/Shanghai", "Europe/Berlin"])
def test_dates_picked_in_the_backfill_dialog_are_the_business_dates_built(dagbag, ui_timezone):
    """The dialog sends [first day 00:00, last day 23:59:59.999] in the UI's timezone; Airflow's backfill
    turns that range into runs with the timetable (iter_dagrun_infos_between). Each run's business
    date must be one of the dates picked, all of them, whatever timezone the UI shows."""
    from datetime import date, datetime, time, timedelta
    from zoneinfo import ZoneInfo

    from zxt.orchestration.tasks.context import business_date_of

    dag = _serialized(dagbag.dags["zxt_nightly"])
    tz = ZoneInfo(ui_timezone)
    first, last = date(2026, 11, 9), date(2026, 11, 11)
    lo = datetime.combine(first, time(0), tz)
    hi = datetime.combine(last, time(23, 59, 59, 999000), tz)
    infos = list(dag.iter_dagrun_infos_between(lo, hi))
    assert [business_date_of(i.logical_date) for i in infos] == [first, first + timedelta(1), last]
    # The run starts at 01:30 in Guangshui the morning after its business date.
    for info in infos:
        run_after = info.run_after.astimezone(ZoneInfo("Asia/Shanghai"))
        assert (run_after.date(), run_after.hour, run_after.minute) == (
            business_date_of(info.logical_date) + timedelta(1),
            1,
            30,
        )


def test_backfill_cli_dates_are_the_business_dates_built(dagbag):
    """`airflow backfill create --from-date 2026-11-09 --to-date 2026-11-11` (plain dates: 00:00 UTC)."""
    from datetime import UTC, date, datetime

    from zxt.orchestration.tasks.context import business_date_of

    dag = _serialized(dagbag.dags["zxt_nightly"])
    infos = dag.iter_dagrun_infos_between(
        datetime(2026, 11, 9, tzinfo=UTC), datetime(2026, 11, 11, tzinfo=UTC)
    )
    assert [business_date_of(i.logical_date) for i in infos] == [date(2026, 11, d) for d in (9, 10, 11)]


def test_no_secret_reaches_the_environment_at_parse_time(dagbag):
    """The warehouse password is resolved inside tasks (dbt's on_execute_callback), never at parse time."""
    from zxt.core.settings import get_settings

    password = get_settings().warehouse.pg.password
    import os

    assert not [k for k in dagbag.env_changed if password in os.environ[k] or k.startswith("ZXT_PG_")]
    dag = dagbag.dags["zxt_nightly"]
    run_model = dag.get_task("dbt.credit_warning.run")
    assert run_model.on_execute_callback, "dbt tasks resolve the warehouse connection when they run"
    assert "password" not in str(getattr(run_model, "env", {}) or {}).lower()


def test_every_task_has_a_doc_and_alerts_on_failure(dagbag):
    for dag in dagbag.dags.values():
        for t in dag.tasks:
            doc = t.doc_md or t.doc or ""
            assert len(doc.strip()) > 20, f"{dag.dag_id}.{t.task_id} has no doc"
            assert t.on_failure_callback, f"{dag.dag_id}.{t.task_id} sends no alert when it fails"


def test_the_night_has_a_deadline_alert(dagbag):
    dag = dagbag.dags["zxt_nightly"]
    (alert,) = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
    assert type(alert.reference).__name__ == "DagRunQueuedAtDeadline"
    assert alert.callback.path.endswith("callbacks.deadline_missed")


def test_a_backfill_run_is_recognised_as_one():
    """Airflow hands tasks a DagRunType enum; the delivery rule must see "backfill", not its repr."""
    from datetime import date
    from types import SimpleNamespace

    from airflow.utils.types import DagRunType

    from zxt.core import delivery_policy
    from zxt.core.settings import Settings
    from zxt.orchestration.tasks import context as module

    run_type = module.run_type({"dag_run": SimpleNamespace(run_type=DagRunType.BACKFILL_JOB)})
    assert run_type == "backfill"
    settings = Settings().with_(clock__today_override=date(2026, 11, 13))
    assert not delivery_policy.decide(date(2026, 11, 12), run_type, settings).deliver
    assert delivery_policy.decide(
        date(2026, 11, 12),
        module.run_type({"dag_run": SimpleNamespace(run_type=DagRunType.SCHEDULED)}),
        settings,
    ).deliver


def test_dags_import_only_the_product():
    """DAG files run in every Airflow process of production, where the sandbox is not installed."""
    import ast

    dags = Path(__file__).resolve().parents[2] / "dags"
    for path in dags.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not any(n.split(".")[0] == "zxt_sandbox" for n in names), (
                f"{path.name} imports the sandbox"
            )


def test_plugin_loader_skips_our_packages():
    """Airflow imports every .py under plugins/ as a top-level module named after its file: ours would
    shadow modules such as `settings` or `summary` in every Airflow process."""
    from airflow._shared.module_loading import find_path_from_directory

    plugins = DAGS.parent / "plugins"
    walked = [
        Path(p).relative_to(plugins) for p in find_path_from_directory(str(plugins), ".airflowignore", "glob")
    ]
    ours = [p for p in walked if p.parts[0] in {"zxt", "zxt_sandbox"}]
    assert ours == [], f"the plugin loader would import {ours[:5]}"
    assert (plugins / "zxt" / "core" / "settings.py").is_file()  # the walk really covered the folder
