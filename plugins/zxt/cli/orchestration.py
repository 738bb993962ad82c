"""``zxt airflow up | down | status`` (Airflow on this machine), ``zxt airflow …`` (the Airflow CLI
on this project) and ``zxt rerun -d D`` (rebuild a date after fixing its data, through the API)."""

from __future__ import annotations

import typer

from zxt.cli.common import DateOpt, console, parse_date
from zxt.core.settings import get_settings

LOCAL = {"up", "down", "status"}


def airflow(ctx: typer.Context) -> None:
    """`zxt airflow up|down|status`: the UI, scheduler, dag-processor and triggerer on this machine.
    Anything else runs the Airflow CLI on this project (e.g. `zxt airflow dags list`)."""
    from zxt.orchestration import airflow_env
    from zxt.transform import dbt_runner

    args = list(ctx.args)
    if args and args[0] in LOCAL and len(args) == 1:
        raise typer.Exit(_local(args[0]))
    if not get_settings().paths.dbt_manifest.exists():
        dbt_runner.parse()
    airflow_env.ensure_db()
    raise typer.Exit(airflow_env.run(args).returncode)


def _local(command: str) -> int:
    from zxt.orchestration import local_airflow

    settings = get_settings()
    af = settings.airflow
    if command == "down":
        stopped = local_airflow.down(settings)
        console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
        return 0
    if command == "up":
        with console.status("starting the warehouse, stand-ins and Airflow (a minute or two the first time)"):
            procs = local_airflow.up(settings)
    else:
        procs = local_airflow.status(settings)
    for p in procs:
        state = "[green]running[/]" if p.alive else "[red]stopped[/]"
        console.print(f"{p.name:16} {state:24} pid {p.pid or '-':>7}  log {p.log}")
    running = any(p.alive for p in procs if p.name == "api-server")
    if running:
        console.print(
            f"\nUI: {af.base_url}  login {af.username} / {af.password}  (ZXT_AIRFLOW_USER / ZXT_AIRFLOW_PASSWORD)"
        )
        _warn_stuck_backfills()
    elif command == "status":
        console.print("Airflow is not running: `zxt airflow up`")
    return 0 if command == "status" or all(p.alive for p in procs) else 1


def _warn_stuck_backfills() -> None:
    from zxt.orchestration import api

    try:
        client = api.Client()
        stuck = api.paused_with_backfills(client)
        paused = client.dag().get("is_paused")
    except api.AirflowApiError as exc:
        console.print(f"[yellow]could not ask the API: {exc}[/]")
        return
    for s in stuck:
        console.print(f"[red]{s.message}[/]")
    if paused and not stuck:
        console.print(
            "zxt_nightly is paused (new DAGs start paused): `zxt airflow dags unpause zxt_nightly` to schedule it"
        )


def rerun(date_: DateOpt) -> None:
    """After fixing a date's bad data: clear its whole zxt_nightly run through the API, so ingest reloads,
    dbt rebuilds and the gates judge again (clearing only the failed gate would judge the old build)."""
    from zxt.orchestration import api

    day = parse_date(date_)
    try:
        run = api.Client().rerun(day)
    except api.AirflowApiError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    console.print(
        f"zxt_nightly {run['dag_run_id']} (business date {day}) is {run['state']}: it runs again from ingest"
    )


def register(app: typer.Typer) -> None:
    app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(airflow)
    app.command("rerun")(rerun)
