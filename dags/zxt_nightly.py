"""
### zxt_nightly — 增信通 nightly pipeline

Every night at 01:30 Asia/Shanghai, for the business date that just ended (the run's `ds`):

1. **ingest** every landing drop dated on or before `ds` (mapped per drop; unchanged files are skipped)
   into `raw`, with bad rows in `raw.rejects`;
2. **source gate**: each snapshot dataset has data;
3. **dbt** (astronomer-cosmos): staging → intermediate → marts `credit_warning`, `bank_referral`
   for `as_of_date = ds`, each model followed by its data tests;
4. **mart gate** (GX Core suite `expectations/credit_warning.json`): a failure stops here;
5. **publish** the date (officers' `*_current` views move to it);
6. **deliver**, only when `ds` is the current business date and the run is not a backfill:
   stage SMS reminders in `delivery.outbox` (sent by `zxt_outreach_relay`) and drop bank referral
   files over SFTP. A backfilled date rebuilds data and sends nothing.

Every task is safe to rerun. Operate with `zxt` (see README).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, get_current_context, task
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import InvocationMode, LoadMode, TestBehavior
from zxt.core.settings import PROJECT_ROOT, get_settings
from zxt.transform import dbt_env

DBT_DIR = PROJECT_ROOT / "dbt_project"
dbt_env.export()  # environment only: the dbt profile reads the warehouse address from it


def _run_type(ctx) -> str:
    run_type = ctx["dag_run"].run_type
    return getattr(run_type, "value", str(run_type))  # DagRunType enum -> "backfill", "scheduled", ...


def _as_of():
    from datetime import date

    return date.fromisoformat(get_current_context()["ds"])


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
    @task
    def list_drops() -> list[dict]:
        from datetime import timedelta

        from zxt.ingest import load as ingest

        # A bounded window keeps the mapped task count flat as the landing zone grows.
        since = _as_of() - timedelta(days=get_settings().pipeline.ingest_lookback_days)
        return [
            {"dataset": d.dataset, "drop_date": d.drop_date.isoformat(), "path": str(d.path)}
            for d in ingest.discover(_as_of(), since=since)
        ]

    @task(
        map_index_template="{{ task.op_kwargs['drop']['dataset'] }} {{ task.op_kwargs['drop']['drop_date'] }}"
    )
    def ingest_drop(drop: dict) -> list[dict]:
        from dataclasses import asdict
        from datetime import date
        from pathlib import Path

        from zxt.ingest import load as ingest

        d = ingest.Drop(drop["dataset"], date.fromisoformat(drop["drop_date"]), Path(drop["path"]))
        return [asdict(r) for r in ingest.ingest_drop(d)]

    # Runs even when no drop needed loading (an empty mapping skips ingest_drop).
    @task(trigger_rule="none_failed")
    def source_gate() -> dict:
        from airflow.exceptions import AirflowFailException
        from zxt.ingest import source_gate as sg
        from zxt.quality.mart_gate import GateFailed

        try:
            return sg.check_sources(_as_of())
        except GateFailed as exc:  # bad data: retrying cannot help
            raise AirflowFailException(str(exc)) from exc

    dbt = DbtTaskGroup(
        group_id="dbt",
        project_config=ProjectConfig(
            dbt_project_path=DBT_DIR,
            manifest_path=DBT_DIR / "target" / "manifest.json",
            dbt_vars={
                "as_of_date": "{{ ds }}",
                "warning_horizon_days": str(get_settings().pipeline.warning_horizon_days),
            },
        ),
        profile_config=ProfileConfig(
            profile_name="zxt", target_name="warehouse", profiles_yml_filepath=DBT_DIR / "profiles.yml"
        ),
        execution_config=ExecutionConfig(invocation_mode=InvocationMode.DBT_RUNNER),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.AFTER_EACH,
            emit_datasets=False,
        ),
        operator_args={"install_deps": False, "emit_datasets": False},
        default_args={"retries": 1},
    )

    @task
    def mart_gate() -> dict:
        from dataclasses import asdict

        from airflow.exceptions import AirflowFailException
        from zxt.quality import mart_gate as gate

        result = gate.check_credit_warning(_as_of())
        try:
            gate.require_pass(result)
        except gate.GateFailed as exc:  # bad data: retrying cannot help
            raise AirflowFailException(str(exc)) from exc
        return asdict(result)

    @task
    def publish() -> str:
        from zxt.quality import publish as pub

        ctx = get_current_context()
        pub.publish(_as_of(), run_id=ctx["run_id"])
        return ctx["ds"]

    @task
    def stage_reminders() -> dict:
        from dataclasses import asdict

        from zxt.core import delivery_policy
        from zxt.delivery import outbox

        ctx = get_current_context()
        decision = delivery_policy.decide(_as_of(), _run_type(ctx))
        if not decision.deliver:
            return {"staged": 0, "reason": decision.reason}
        return {**asdict(outbox.stage_reminders(_as_of())), "reason": decision.reason}

    @task
    def bank_drop() -> dict:
        from dataclasses import asdict

        from zxt.bank import drop as bd
        from zxt.core import delivery_policy

        ctx = get_current_context()
        decision = delivery_policy.decide(_as_of(), _run_type(ctx))
        if not decision.deliver:
            return {"drops": [], "reason": decision.reason}
        return {"drops": [asdict(r) for r in bd.deliver_bank_referrals(_as_of())], "reason": decision.reason}

    loaded = ingest_drop.expand(drop=list_drops())
    gated = source_gate()
    published = publish()
    loaded >> gated >> dbt >> mart_gate() >> published
    published >> [stage_reminders(), bank_drop()]


zxt_nightly()
