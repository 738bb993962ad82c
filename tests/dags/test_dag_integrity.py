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
    try:
        return DagBag(dag_folder=str(DAGS))
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
    assert dag.schedule == "30 1 * * *" or "30 1 * * *" in str(dag.timetable.summary)
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
