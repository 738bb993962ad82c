"""dbt from the `zxt` command (the DAG runs the same project through astronomer-cosmos)."""

from __future__ import annotations

from datetime import date

from zxt.core.errors import DbtFailed
from zxt.core.settings import Settings, get_settings
from zxt.transform import dbt_env
from zxt.warehouse import migrate
from zxt.warehouse import server as warehouse


def invoke(args: list[str], as_of: date | None = None, settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    from dbt.cli.main import dbtRunner  # heavy: imported only when dbt runs

    dbt_env.export(settings)
    if args and args[0] not in {"parse", "deps", "clean", "ls", "list"}:
        # dbt sources read tables the zxt package owns: make sure they exist.
        migrate.ensure_current(warehouse.engine(settings))
    project = str(settings.paths.dbt_project_dir)
    full = [*args, "--project-dir", project, "--profiles-dir", project]
    if as_of is not None:
        full += [
            "--vars",
            f"{{as_of_date: '{as_of.isoformat()}', warning_horizon_days: {settings.pipeline.warning_horizon_days}, "
            f"reminder_max_days_late: {settings.pipeline.reminder_max_days_late}}}",
        ]
    result = dbtRunner().invoke(full)
    if not result.success:
        raise DbtFailed(
            f"dbt {' '.join(args)} failed{f' for {as_of}' if as_of else ''}: {result.exception or ''}"
        )


def parse(settings: Settings | None = None) -> None:
    """Write target/manifest.json, which the DAG's cosmos task group renders from."""
    invoke(["parse", "--quiet"], settings=settings)
