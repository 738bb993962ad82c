"""Airflow plugin: the nightly's timetable (zxt.orchestration.timetable: backfill ranges select
business dates), and the run notes: every zxt_nightly run gets a note naming its business date (Guangshui's calendar)
and whether it may deliver, set by the scheduler when the run starts — a backfilled or past date says
"nothing sent" and why, beside its skipped delivery tasks. A note someone already wrote is kept.

The only module Airflow's plugin loader imports from this folder (plugins/.airflowignore keeps
the zxt packages out of its walk).
"""

from __future__ import annotations

import logging

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

from zxt.orchestration.timetable import BusinessDateTimetable

log = logging.getLogger(__name__)

DAGS = {"zxt_nightly"}


def note_for(logical_date, run_type: str) -> str:
    from zxt.core import delivery_policy
    from zxt.orchestration.tasks.context import business_date_of

    day = business_date_of(logical_date)
    decision = delivery_policy.decide(day, run_type)
    delivery = (
        "delivers reminders and bank files" if decision.deliver else f"delivers nothing — {decision.reason}"
    )
    return f"Business date {day} (Guangshui). {run_type.capitalize()} run; {delivery}."


class RunNotes:
    @hookimpl
    def on_dag_run_running(self, dag_run, msg: str) -> None:
        if dag_run.dag_id not in DAGS or dag_run.note:
            return
        try:
            run_type = getattr(dag_run.run_type, "value", str(dag_run.run_type))
            dag_run.note = note_for(dag_run.logical_date, run_type)  # committed with the scheduler's session
        except Exception:  # a note is a courtesy: never disturb the scheduler
            log.exception("could not write the business-date note of %s", dag_run.run_id)


class ZxtPlugin(AirflowPlugin):
    name = "zxt"
    listeners = [RunNotes()]
    timetables = [BusinessDateTimetable]
