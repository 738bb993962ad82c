"""The dbt project as an astronomer-cosmos task group (one task per model, its tests after it)."""

from __future__ import annotations

from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import InvocationMode, LoadMode, TestBehavior

from zxt.core.settings import get_settings
from zxt.transform import dbt_env


def dbt_group(group_id: str = "dbt") -> DbtTaskGroup:
    settings = get_settings()
    dbt_dir = settings.paths.dbt_project_dir
    dbt_env.export()  # environment only: the dbt profile reads the warehouse address from it
    return DbtTaskGroup(
        group_id=group_id,
        project_config=ProjectConfig(
            dbt_project_path=dbt_dir,
            manifest_path=dbt_dir / "target" / "manifest.json",
            dbt_vars={
                "as_of_date": "{{ ds }}",
                "warning_horizon_days": str(settings.pipeline.warning_horizon_days),
                "reminder_max_days_late": str(settings.pipeline.reminder_max_days_late),
            },
        ),
        profile_config=ProfileConfig(
            profile_name="zxt", target_name="warehouse", profiles_yml_filepath=dbt_dir / "profiles.yml"
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
