"""What a running task needs to know about its run: the business date and the run type."""

from __future__ import annotations

from datetime import date


def as_of() -> date:
    """The business date the run builds (``as_of_date``)."""
    from airflow.sdk import get_current_context

    return date.fromisoformat(get_current_context()["ds"])


def run_type(ctx) -> str:
    run_type = ctx["dag_run"].run_type
    return getattr(run_type, "value", str(run_type))  # DagRunType enum -> "backfill", "scheduled", ...
