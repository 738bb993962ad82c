"""Tasks: schema upgrade, external pulls (mapped per source), landing drops → raw (mapped per drop),
source gate."""

from __future__ import annotations

from airflow.sdk import task, task_group

from zxt.orchestration.tasks.context import as_of


@task
def upgrade_warehouse() -> str:
    """Apply pending schema migrations once, before any task of the night touches the warehouse."""
    from zxt.warehouse import migrate
    from zxt.warehouse import server as warehouse

    return migrate.upgrade(warehouse.engine()) or ""


@task
def list_pull_sources() -> list[str]:
    """Landing datasets pulled from the credit-sharing platform's API (contracts with ``pull``)."""
    from zxt.ingest import pull

    return pull.pullable()


@task(map_index_template="{{ task.op_kwargs['dataset'] }}")
def pull_source(dataset: str) -> dict:
    """Pull one source for the business date into the landing zone (the client retries and backs
    off itself). A platform that stays down does not fail the night: the drop is missing, and the
    source gate blocks the marts that read it, with the reason."""
    import logging
    from dataclasses import asdict

    from zxt.core.settings import get_settings
    from zxt.ingest import pull
    from zxt.ingest.platform_client import PullFailed

    if not get_settings().platform.url:
        logging.getLogger(__name__).warning("%s: ZXT_PLATFORM_URL is not set; nothing pulled", dataset)
        return {"dataset": dataset, "status": "not_configured"}
    try:
        return {"status": "pulled", **asdict(pull.pull(dataset, as_of()))}
    except PullFailed as exc:
        logging.getLogger(__name__).error("%s: pull failed: %s", dataset, exc)
        return {"dataset": dataset, "status": "failed", "reason": str(exc)}
    except Exception as exc:  # a bug or a full disk: still one source, not the night
        logging.getLogger(__name__).exception("%s: pull failed unexpectedly", dataset)
        return {"dataset": dataset, "status": "failed", "reason": f"{type(exc).__name__}: {exc}"}


@task_group(group_id="external")
def external_pulls():
    """One mapped pull per external source, before the landing zone is read."""
    return pull_source.expand(dataset=list_pull_sources())


@task
def list_drops() -> list[dict]:
    """Landing drops dated within the lookback window up to the business date (refused landing paths
    — symlinks, misnamed date folders — are recorded in ops.landing_refusals for the source gate)."""
    from datetime import timedelta

    from zxt.core.settings import get_settings
    from zxt.ingest import load

    # A bounded window keeps the mapped task count flat as the landing zone grows.
    since = as_of() - timedelta(days=get_settings().pipeline.ingest_lookback_days)
    return [
        {"dataset": d.dataset, "drop_date": d.drop_date.isoformat(), "path": str(d.path)}
        for d in load.plan(as_of(), since=since)
    ]


@task(map_index_template="{{ task.op_kwargs['drop']['dataset'] }} {{ task.op_kwargs['drop']['drop_date'] }}")
def ingest_drop(drop: dict) -> list[dict]:
    """Load one drop into raw (bad rows to raw.rejects, a file refused whole is quarantined); unchanged
    files are skipped. Does not fail for what a file contains: the source gate judges the drop."""
    from dataclasses import asdict
    from datetime import date
    from pathlib import Path

    from zxt.ingest import load

    d = load.Drop(drop["dataset"], date.fromisoformat(drop["drop_date"]), Path(drop["path"]))
    return [asdict(r) for r in load.ingest_drop(d)]


# Runs even when no drop needed loading (an empty mapping skips ingest_drop).
@task(trigger_rule="none_failed")
def source_gate() -> dict:
    """The inputs the business date needs are there; a failure blocks everything downstream."""
    from airflow.exceptions import AirflowFailException

    from zxt.core.errors import GateFailed
    from zxt.ingest import source_gate as sg

    try:
        return sg.check_sources(as_of())
    except GateFailed as exc:  # bad data: retrying cannot help
        raise AirflowFailException(str(exc)) from exc
