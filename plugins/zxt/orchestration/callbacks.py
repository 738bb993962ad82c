"""Airflow callbacks that alert the data team (zxt.ops.alerts): a task failed, a gate failed (its
summary names the failing expectations and where the full result is), the night missed its deadline."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

GATE_TASKS = ("source_gate", "mart_gate")


def task_failed(context) -> None:
    """``on_failure_callback`` of every task: runs once the task has failed for good (no retry left)."""
    from zxt.orchestration import alerts
    from zxt.orchestration.tasks.context import business_date_of

    ti = context["ti"]
    exc = context.get("exception")
    kind = "gate_failed" if ti.task_id.split(".")[-1] in GATE_TASKS else "task_failed"
    task = ti.task_id if getattr(ti, "map_index", -1) in (-1, None) else f"{ti.task_id}[{ti.map_index}]"
    try:
        alerts.send(
            alerts.Alert(
                kind=kind,
                dag_id=ti.dag_id,
                task_id=task,
                run_id=ti.run_id,
                business_date=business_date_of(context.get("logical_date")).isoformat(),
                reason=f"{type(exc).__name__}: {exc}" if exc else "failed (see the log)",
                log_url=getattr(ti, "log_url", ""),
            )
        )
    except Exception:  # an alert must never turn into a second failure
        log.exception("could not send the failure alert")


async def deadline_missed(context: dict | None = None, **_: object) -> None:
    """Deadline-alert callback (runs in the triggerer): the night has not finished by its deadline."""
    import asyncio

    from zxt.core.settings import get_settings
    from zxt.orchestration import alerts
    from zxt.orchestration.tasks.context import business_date_of

    run = (context or {}).get("dag_run") or {}
    dag_id, run_id = run.get("dag_id", "zxt_nightly"), run.get("dag_run_id", "")
    deadline = ((context or {}).get("deadline") or {}).get("deadline_time", "")
    base = get_settings().airflow.base_url
    await asyncio.to_thread(
        alerts.send,
        alerts.Alert(
            kind="deadline_missed",
            dag_id=dag_id,
            run_id=run_id,
            business_date=business_date_of(run.get("logical_date")).isoformat(),
            reason=f"the run had not finished (published and delivered) by {deadline}; state {run.get('state')}",
            log_url=f"{base}/dags/{dag_id}/runs/{run_id}" if run_id else "",
        ),
    )
