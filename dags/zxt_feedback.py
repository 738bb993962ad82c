"""
### zxt_feedback — receipts, replies, follow-ups, delivery rates

Every 15 minutes (and on demand): pull Tencent SMS receipts and replies (`PullSmsSendStatus`,
`PullSmsReplyStatus`) that the callbacks may have missed, settle `submitted` / `unknown` messages
from every receipt held (SMS status reports, WeChat `TEMPLATESENDJOBFINISH` events) and queue the
other channel for failed ones, put opt-out replies on the suppression list, mark for phone follow-up
each reminder no channel confirmed within its validity window (`delivery.followups`), and write
per-channel delivery rates to `ops.delivery_rates`. Idempotent; sends nothing itself.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag

from zxt.core.settings import get_settings
from zxt.orchestration import callbacks, task_docs
from zxt.orchestration.tasks import feedback


@dag(
    dag_id="zxt_feedback",
    schedule="*/15 * * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "zxt-data",
        "retries": 1,
        "retry_delay": timedelta(minutes=2),
        "execution_timeout": timedelta(minutes=14),  # done before the next 15-minute run
        "on_failure_callback": callbacks.task_failed,
    },
    tags=["zxt", "delivery", "feedback"],
    doc_md=__doc__,
)
def zxt_feedback():
    feedback.feedback()


task_docs.document(zxt_feedback(), get_settings().paths.dbt_manifest)
