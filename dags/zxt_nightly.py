"""
### zxt_nightly — 增信通 nightly pipeline

Every night at 01:30 Asia/Shanghai, for the business date that just ended. The run's logical
date is 00:00 UTC of that business date, so the date the UI shows (in UTC or Asia/Shanghai), `ds`,
the run id and the run's note all name it; a date picked in the Backfill dialog is the date rebuilt.

1. **pull** each external department's dataset for `ds` from the city credit-sharing platform's API
   into the landing zone (task group `external`, mapped per source), then **ingest** every landing
   drop dated on or before `ds` (mapped per drop; unchanged files are skipped) into `raw`, with bad
   rows in `raw.rejects` and files refused whole quarantined (never failing the night);
2. **source gate**: every landing dataset's drop for `ds` arrived, with few rejects and a plausible
   volume (`expectations/sources.yml`); an error blocks the gated marts that read the dataset;
3. **dbt** (astronomer-cosmos): staging → intermediate → marts for `as_of_date` = the business
   date, each model followed by its data tests, inside the **build lease** (one night at a time
   builds the shared layers, whatever a backfill's "max active runs" says);
4. **mart gate**, one mapped task per gated mart of the registry (dbt YAML `meta.gate`, read at run
   time): the mart's GX suite on its new partition. A failure stops here for every mart; a mart
   whose inputs were blocked is skipped and keeps its previous published date;
5. **publish** every passing mart of the date at once (officers' `*_current` views move to it);
6. **deliver**, only when `ds` is the current business date and the run is not a backfill:
   stage SMS reminders in `delivery.outbox` (sent by `zxt_outreach_relay`) and drop bank referral
   files over SFTP. A backfilled date rebuilds data and sends nothing: its delivery tasks show as
   skipped, with the reason in their log and in the run's note.

Failures alert the data team (WeCom group robot and e-mail); so does a night not finished by its
deadline. Every task is safe to rerun; after fixing bad data, `zxt rerun -d D` clears the whole
run. Operate with `zxt` (see README and docs/operations.md).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference, dag

from zxt.core.settings import get_settings
from zxt.orchestration import callbacks, task_docs
from zxt.orchestration.tasks import delivery, ingest, quality, transform
from zxt.orchestration.tasks.context import business_date_macro
from zxt.orchestration.timetable import BusinessDateTimetable

settings = get_settings()


@dag(
    dag_id="zxt_nightly",
    # 01:30 in Guangshui; logical date 00:00 UTC of the business date, which backfill ranges select.
    schedule=BusinessDateTimetable("30 1 * * *", timezone="Asia/Shanghai"),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    user_defined_macros={"business_date": business_date_macro},
    default_args={
        "owner": "zxt-data",
        "retries": 2,
        "retry_delay": timedelta(seconds=settings.pipeline.retry_delay_s),
        "execution_timeout": timedelta(hours=2),
        "on_failure_callback": callbacks.task_failed,
    },
    # Not finished (published and delivered) this long after it was queued: alert the data team.
    # 0 turns it off (`zxt airflow dags test` does: Airflow 3.3's `dags test` cannot finish a run of
    # a DAG with deadline alerts, and has no triggerer to send them anyway).
    deadline=DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(minutes=settings.alerts.publish_deadline_min),
        callback=AsyncCallback(callbacks.deadline_missed),
    )
    if settings.alerts.publish_deadline_min > 0
    else None,
    tags=["zxt", "nightly", "credit"],
    doc_md=__doc__,
)
def zxt_nightly():
    drops = ingest.list_drops()
    ingest.upgrade_warehouse() >> drops
    ingest.external_pulls() >> drops
    loaded = ingest.ingest_drop.expand(drop=drops)
    marts = quality.gated_marts()
    dbt = transform.dbt_group()
    lease = transform.acquire_build_lease()
    loaded >> ingest.source_gate() >> lease >> dbt >> marts
    [lease, dbt] >> transform.release_build_lease()
    published = quality.publish()
    quality.mart_gate.expand(mart=marts) >> published
    published >> [delivery.stage_reminders(), delivery.bank_drop()]


task_docs.document(zxt_nightly(), settings.paths.dbt_manifest)
