"""
### zxt_nightly — 增信通 nightly pipeline

Every night at 01:30 Asia/Shanghai, for the business date that just ended (the run's `ds`):

1. **pull** each external department's dataset for `ds` from the city credit-sharing platform's API
   into the landing zone (task group `external`, mapped per source), then **ingest** every landing
   drop dated on or before `ds` (mapped per drop; unchanged files are skipped) into `raw`, with bad
   rows in `raw.rejects` and files refused whole quarantined (never failing the night);
2. **source gate**: every landing dataset's drop for `ds` arrived, with few rejects and a plausible
   volume (`expectations/sources.yml`); an error blocks the gated marts that read the dataset;
3. **dbt** (astronomer-cosmos): staging → intermediate → marts for `as_of_date = ds`, each model
   followed by its data tests;
4. **mart gate**, one mapped task per gated mart of the registry (dbt YAML `meta.gate`, read at run
   time): the mart's GX suite on its new partition. A failure stops here for every mart; a mart
   whose inputs were blocked is skipped and keeps its previous published date;
5. **publish** every passing mart of the date at once (officers' `*_current` views move to it);
6. **deliver**, only when `ds` is the current business date and the run is not a backfill:
   stage SMS reminders in `delivery.outbox` (sent by `zxt_outreach_relay`) and drop bank referral
   files over SFTP. A backfilled date rebuilds data and sends nothing.

Every task is safe to rerun. Operate with `zxt` (see README).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag

from zxt.core.settings import get_settings
from zxt.orchestration.tasks import delivery, ingest, quality, transform


@dag(
    dag_id="zxt_nightly",
    schedule="30 1 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "zxt-data",
        "retries": 2,
        "retry_delay": timedelta(seconds=get_settings().pipeline.retry_delay_s),
    },
    tags=["zxt", "nightly", "credit"],
    doc_md=__doc__,
)
def zxt_nightly():
    drops = ingest.list_drops()
    ingest.upgrade_warehouse() >> drops
    ingest.external_pulls() >> drops
    loaded = ingest.ingest_drop.expand(drop=drops)
    marts = quality.gated_marts()
    loaded >> ingest.source_gate() >> transform.dbt_group() >> marts
    published = quality.publish()
    quality.mart_gate.expand(mart=marts) >> published
    published >> [delivery.stage_reminders(), delivery.bank_drop()]


zxt_nightly()
