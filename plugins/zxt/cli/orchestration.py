"""``zxt airflow …``: the Airflow CLI on this project's AIRFLOW_HOME, DAGs and plugins."""

from __future__ import annotations

import typer

from zxt.core.settings import get_settings


def airflow(ctx: typer.Context) -> None:
    """Run the Airflow CLI with this project's AIRFLOW_HOME, DAGs and plugins (e.g. `zxt airflow dags list`)."""
    from zxt.orchestration import airflow_env
    from zxt.transform import dbt_runner

    if not (get_settings().paths.dbt_project_dir / "target" / "manifest.json").exists():
        dbt_runner.parse()
    airflow_env.ensure_db()
    raise typer.Exit(airflow_env.run(list(ctx.args)).returncode)


def register(app: typer.Typer) -> None:
    app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(airflow)
