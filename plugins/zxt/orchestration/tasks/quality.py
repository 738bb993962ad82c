"""Tasks: the mart gate and publishing the business date."""

from __future__ import annotations

from airflow.sdk import get_current_context, task

from zxt.orchestration.tasks.context import as_of


@task
def mart_gate() -> dict:
    """GX suite on the new credit_warning partition; a failure stops publish and delivery."""
    from dataclasses import asdict

    from airflow.exceptions import AirflowFailException

    from zxt.core.errors import GateFailed
    from zxt.quality import mart_gate as gate

    result = gate.check_credit_warning(as_of())
    try:
        gate.require_pass(result)
    except GateFailed as exc:  # bad data: retrying cannot help
        raise AirflowFailException(str(exc)) from exc
    return asdict(result)


@task
def publish() -> str:
    """Record the date in ops.publish_log: the officers' *_current views move to it."""
    from zxt.quality import publish as pub

    ctx = get_current_context()
    pub.publish(as_of(), run_id=ctx["run_id"])
    return ctx["ds"]
