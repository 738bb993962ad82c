"""Tasks: the gated marts (from the registry, at run time), one mart gate per mart, publishing the date."""

from __future__ import annotations

from airflow.sdk import get_current_context, task

from zxt.orchestration.tasks.context import as_of


@task
def gated_marts() -> list[str]:
    """The gated marts declared in the dbt YAML (read from the manifest now, never at parse time)."""
    from zxt.core import mart_registry

    return mart_registry.load().names


@task(map_index_template="{{ task.op_kwargs['mart'] }}")
def mart_gate(mart: str) -> dict:
    """GX suite on the mart's new partition. Failed: publish and delivery stop for the whole date.
    Blocked (an input the source gate refused): skipped, the mart keeps its previous published date."""
    import logging
    from dataclasses import asdict

    from airflow.exceptions import AirflowFailException, AirflowSkipException

    from zxt.quality import mart_gate as gate

    result = gate.check_mart(mart, as_of())
    logging.getLogger(__name__).info("%s", result.summary())  # the log's last line says what and where
    if result.status == "blocked":
        raise AirflowSkipException(result.summary())
    if result.status == "failed":  # bad data: retrying cannot help
        raise AirflowFailException(result.summary())
    return asdict(result)


# Runs when every gate passed or was skipped (blocked); a failed gate stops it.
@task(trigger_rule="none_failed")
def publish() -> dict:
    """Publish every gated mart of the date at once; officers' *_current views move to it."""
    from dataclasses import asdict

    from airflow.exceptions import AirflowFailException

    from zxt.core.errors import GateFailed
    from zxt.quality import publish as pub

    ctx = get_current_context()
    try:
        return asdict(pub.publish(as_of(), run_id=ctx["run_id"]))
    except GateFailed as exc:
        raise AirflowFailException(str(exc)) from exc
