"""What a running task needs to know about its run: the business date and the run type.

The business date is the Guangshui calendar date of the run's logical date. The nightly schedule
gives each run the logical date 00:00 UTC of the date it closes (08:00 in Guangshui; the run itself
starts at 01:30 the next morning), so the date shown in the UI — in UTC or Asia/Shanghai — the run
id's date, ``ds`` and the business date are all the same day, and a date picked in the Backfill
dialog (or ``airflow backfill create --from-date/--to-date``) is the date rebuilt.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from zxt.core.clock import BUREAU_TZ


def business_date_of(logical_date: datetime | str | None) -> date:
    """A run without a logical date (a bare manual trigger) builds the current business date."""
    if logical_date is None or logical_date == "":
        from zxt.core.settings import get_settings

        return get_settings().clock.current_business_date()
    if isinstance(logical_date, str):
        logical_date = datetime.fromisoformat(logical_date.replace("Z", "+00:00"))
    if logical_date.tzinfo is None:  # Airflow's naive datetimes are UTC
        logical_date = logical_date.replace(tzinfo=UTC)
    return logical_date.astimezone(BUREAU_TZ).date()


def business_date_macro(logical_date) -> str:
    """``{{ business_date(logical_date) }}`` in templates (the dbt var as_of_date)."""
    return business_date_of(logical_date).isoformat()


def as_of() -> date:
    """The business date the run builds (``as_of_date``)."""
    from airflow.sdk import get_current_context

    return business_date_of(get_current_context().get("logical_date"))


def run_type(ctx) -> str:
    run_type = ctx["dag_run"].run_type
    return getattr(run_type, "value", str(run_type))  # DagRunType enum -> "backfill", "scheduled", ...
