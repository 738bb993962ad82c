"""
### zxt_outreach_relay — send staged reminders

Every 15 minutes from 08:00 to 20:45 Asia/Shanghai: expire reminders past their validity window,
turn rows of a dead worker that may have been sent into `unknown`, claim due `delivery.outbox` rows
with a lease, send each through its row's channel (SMS: Tencent Cloud `SendSms`, up to 200 numbers
per call), record each outcome durably and reschedule by outcome class. Opt-outs are checked again
at send time; daily caps, the per-second rate and channel pauses (quota, circuit breaker) are shared
with any other relay worker through the warehouse.
"Now" is the bureau's clock (never the run's logical time: a late or cleared run must not text
anyone outside the allowed hours).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag

from zxt.core.settings import get_settings
from zxt.orchestration import callbacks, task_docs
from zxt.orchestration.tasks import delivery


@dag(
    dag_id="zxt_outreach_relay",
    schedule="*/15 8-20 * * *",
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
    tags=["zxt", "delivery", "sms"],
    doc_md=__doc__,
)
def zxt_outreach_relay():
    delivery.relay()


task_docs.document(zxt_outreach_relay(), get_settings().paths.dbt_manifest)
