"""The dbt project as an astronomer-cosmos task group (one task per model, its tests after it),
inside the warehouse build lease (one night builds the shared layers at a time)."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import PokeReturnValue, get_current_context, task
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import InvocationMode, LoadMode, TestBehavior, TestIndirectSelection

from zxt.core.settings import get_settings
from zxt.orchestration.tasks.context import as_of


def _holder(ctx) -> str:
    return f"{ctx['dag'].dag_id}/{ctx['run_id']}"


def _run_has_ended(holder: str) -> bool:
    """A lease whose run is no longer running was left behind (killed, or marked failed by hand)."""
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    dag_id, _, run_id = holder.partition("/")
    try:
        return RuntimeTaskInstance.get_dagrun_state(dag_id=dag_id, run_id=run_id) not in ("queued", "running")
    except Exception:  # the run is gone
        return True


@task.sensor(poke_interval=10, timeout=int(timedelta(hours=12).total_seconds()), mode="reschedule")
def acquire_build_lease() -> PokeReturnValue:
    """Wait for the warehouse build lease: one night builds staging/intermediate/marts at a time,
    however many runs a backfill lets run at once (the log says which run holds it)."""
    import logging

    from zxt.warehouse import build_lease
    from zxt.warehouse import server as warehouse

    ctx = get_current_context()
    other = build_lease.acquire(
        warehouse.engine(role="transformer"), _holder(ctx), as_of(), is_stale=_run_has_ended
    )
    if other is not None:
        logging.getLogger(__name__).info(
            "waiting: %s holds the build lease (business date %s, since %s)",
            other.holder,
            other.as_of_date,
            other.acquired_at,
        )
    return PokeReturnValue(is_done=other is None)


# Runs once the build has ended however it ended (the lease taken is the one success it needs), so
# the next night is not kept waiting; skipped when the lease was never taken (an upstream failure).
@task(trigger_rule="all_done_min_one_success")
def release_build_lease() -> bool:
    """Give the build lease back once this night's dbt build has finished (or failed)."""
    from zxt.warehouse import build_lease
    from zxt.warehouse import server as warehouse

    return build_lease.release(warehouse.engine(role="transformer"), _holder(get_current_context()))


def export_dbt_env(context) -> None:
    """``on_execute_callback`` of the dbt tasks: the warehouse connection for dbt_project/profiles.yml,
    resolved from zxt settings in the task's own process — never at parse time."""
    from zxt.transform import dbt_env

    dbt_env.export()


def dbt_group(group_id: str = "dbt") -> DbtTaskGroup:
    settings = get_settings()
    dbt_dir = settings.paths.dbt_project_dir
    return DbtTaskGroup(
        group_id=group_id,
        project_config=ProjectConfig(
            dbt_project_path=dbt_dir,
            manifest_path=dbt_dir / "target" / "manifest.json",
            dbt_vars={
                "as_of_date": "{{ business_date(logical_date) }}",
                "warning_horizon_days": str(settings.pipeline.warning_horizon_days),
                "reminder_max_days_late": str(settings.pipeline.reminder_max_days_late),
            },
        ),
        profile_config=ProfileConfig(
            profile_name="zxt", target_name="warehouse", profiles_yml_filepath=dbt_dir / "profiles.yml"
        ),
        # "buildable": a model's test task runs the tests whose other parents are its ancestors (built
        # already), never one that also reads a node built later or elsewhere (eager did, and under
        # the scheduler read relations that did not exist yet); tests across unrelated nodes are
        # detached below into a task after all of them.
        execution_config=ExecutionConfig(
            invocation_mode=InvocationMode.DBT_RUNNER, test_indirect_selection=TestIndirectSelection.BUILDABLE
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.AFTER_EACH,
            # A test reading several models (e.g. reminders against their templates) runs once, after all of them.
            should_detach_multiple_parents_tests=True,
            emit_datasets=False,
        ),
        operator_args={"install_deps": False, "emit_datasets": False},
        default_args={"retries": 1, "on_execute_callback": export_dbt_env},
    )
