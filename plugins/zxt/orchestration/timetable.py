"""The nightly's timetable: runs at 01:30 in Guangshui for the business date that just ended, with
the logical date 00:00 UTC of that business date — and date ranges (a backfill, the Backfill dialog)
select runs by their logical date, i.e. by business date.

Airflow's CronTriggerTimetable selects a backfill's runs by their trigger time, and the trigger of
business date D (01:30 on D+1 in Guangshui, 17:30 UTC on D) falls on a different calendar day in
UTC and in Asia/Shanghai: whichever timezone the UI showed, one of the two shifted the dates rebuilt
by a day. Matching the range against the logical date instead (00:00 UTC on D, 08:00 in Guangshui:
on D in both) makes the dates picked the dates built. Registered by plugins/zxt_airflow.py.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction
from airflow.timetables.trigger import CronTriggerTimetable

# 01:30 Asia/Shanghai on D+1 minus 17h30 = 00:00 UTC on D.
LOGICAL_BEFORE_RUN = timedelta(hours=17, minutes=30)


class BusinessDateTimetable(CronTriggerTimetable):
    description = "01:30 Asia/Shanghai, for the business date that just ended (logical date 00:00 UTC of it)"

    def __init__(
        self, cron: str = "30 1 * * *", *, timezone="Asia/Shanghai", interval=LOGICAL_BEFORE_RUN, **kw
    ):
        super().__init__(cron, timezone=timezone, interval=interval, **kw)

    def next_dagrun_info(
        self, *, last_automated_data_interval: DataInterval | None, restriction: TimeRestriction
    ) -> DagRunInfo | None:
        # A run's trigger comes `interval` after its logical date: compare the range with logical dates.
        shift = self._interval
        restriction = TimeRestriction(
            earliest=restriction.earliest + shift if restriction.earliest is not None else None,
            latest=restriction.latest + shift if restriction.latest is not None else None,
            catchup=restriction.catchup,
        )
        return super().next_dagrun_info(
            last_automated_data_interval=last_automated_data_interval, restriction=restriction
        )
