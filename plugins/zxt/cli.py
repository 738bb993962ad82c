"""The ``zxt`` command: the same functions the DAG tasks call, for operators and developers."""

from __future__ import annotations

import json
import logging
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from zxt.settings import BUREAU_TZ, get_settings

app = typer.Typer(help="增信通 (ZengXinTong) — nightly taxpayer-credit pipeline.", no_args_is_help=True)
warehouse_app = typer.Typer(help="The warehouse (embedded PostgreSQL unless ZXT_WAREHOUSE_URL is set).")
sim_app = typer.Typer(help="Loopback stand-ins for external systems (SMS gateway, bank SFTP).")
app.add_typer(warehouse_app, name="warehouse")
app.add_typer(sim_app, name="sim")
# Wide enough for the summary tables when output goes to a file or CI log.
console = Console(width=None if sys.stdout.isatty() else 120)

DateOpt = Annotated[str, typer.Option("--date", "-d", help="Business date (as_of_date), YYYY-MM-DD.")]


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _print(obj: object) -> None:
    console.print_json(json.dumps(obj, ensure_ascii=False, default=str))


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at INFO level.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@warehouse_app.command("status")
def warehouse_status() -> None:
    from zxt import warehouse

    s = warehouse.status()
    console.print(
        f"{'embedded' if s.embedded else 'external'} warehouse {s.url}: "
        f"{'[green]running[/]' if s.running else '[red]stopped[/]'}"
    )
    if s.data_dir:
        console.print(f"data directory: {s.data_dir}")


@warehouse_app.command("start")
def warehouse_start() -> None:
    from zxt import warehouse

    warehouse.start()
    warehouse_status()


@warehouse_app.command("stop")
def warehouse_stop() -> None:
    from zxt import warehouse

    warehouse.stop()
    warehouse_status()


@app.command()
def synth(
    start: Annotated[str, typer.Option(help="First business date (its drop carries the history).")],
    end: Annotated[str, typer.Option(help="Last business date.")],
    out: Annotated[
        Path | None, typer.Option(help="Landing root (default: ZXT_LANDING_DIR or .zxt/landing).")
    ] = None,
    enterprises: Annotated[int, typer.Option(help="Number of enterprises.")] = 15000,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same files.")] = 42,
    bad_rows: Annotated[bool, typer.Option(help="Add contract-violating files to the last drop.")] = False,
) -> None:
    """Write a synthetic Guangshui county landing zone for a date range."""
    from zxt import synth as synth_mod

    target = out or get_settings().landing
    s, e = _date(start), _date(end)
    with _progress() as progress:
        task = progress.add_task("synthesising enterprises", total=None)

        def tick(done: int) -> None:
            progress.update(task, completed=done)

        summary = synth_mod.generate(
            target, s, e, enterprises=enterprises, seed=seed, progress=tick, inject_bad_rows=bad_rows
        )
    for name, count in summary.datasets.items():
        console.print(f"{name:22} {count.files:3} files {count.rows:>10,} rows")
    console.print(f"landing zone: {target}")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


@app.command()
def ingest(date_: DateOpt) -> None:
    """Load every landing drop dated on or before the date (unchanged files are skipped)."""
    from dataclasses import asdict

    from zxt import ingest as ingest_mod

    as_of = _date(date_)
    drops = ingest_mod.discover(as_of)
    results = []
    with _progress() as progress:
        task = progress.add_task("ingesting drops", total=len(drops))
        for drop in drops:
            results.extend(ingest_mod.ingest_drop(drop))
            progress.advance(task)
    for r in map(asdict, results):
        flag = (
            "skipped (unchanged)"
            if r["skipped"]
            else f"{r['rows_loaded']:,} loaded, {r['rows_rejected']:,} rejected"
        )
        console.print(f"{r['source_file']}: {flag}")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def dbt(
    args: Annotated[list[str], typer.Argument(help="dbt arguments, e.g. build --select marts")],
    date_: Annotated[str | None, typer.Option("--date", "-d", help="as_of_date var")] = None,
) -> None:
    """Run dbt on the project with the warehouse connection and as_of_date set."""
    from zxt import dbt_cli

    dbt_cli.invoke(list(args), as_of=_date(date_) if date_ else None)


@app.command()
def gate(date_: DateOpt) -> None:
    """Run the credit_warning mart gate (GX) for a date."""
    from dataclasses import asdict

    from zxt import gate as gate_mod

    result = gate_mod.check_credit_warning(_date(date_))
    _print(asdict(result))
    if not result.success:
        raise typer.Exit(1)


@app.command()
def publish(date_: DateOpt) -> None:
    """Publish a date (after its gate passed): officers' *_current views move to it."""
    from zxt import gate as gate_mod
    from zxt import publish as publish_mod

    result = gate_mod.check_credit_warning(_date(date_))
    gate_mod.require_pass(result)
    publish_mod.publish(_date(date_), run_id="zxt-cli")
    console.print(f"published {date_}")


def _deliverable(date_: str) -> date:
    """The date, if delivery may act on it (current business date, published); else exit saying why."""
    from zxt import delivery_policy, publish

    as_of = _date(date_)
    decision = delivery_policy.decide(as_of, "manual")
    if not decision.deliver:
        console.print(decision.reason)
        raise typer.Exit(0)
    if not publish.is_published(as_of):
        raise typer.BadParameter(f"{as_of} is not published; run the nightly DAG or `zxt publish` first")
    return as_of


@app.command("stage-reminders")
def stage_reminders(date_: DateOpt) -> None:
    """Stage SMS reminders for the published current business date into delivery.outbox."""
    from dataclasses import asdict

    from zxt import outbox

    _print(asdict(outbox.stage_reminders(_deliverable(date_))))


@app.command()
def relay(
    at: Annotated[str | None, typer.Option(help="Act as of this time (ISO, default now).")] = None,
) -> None:
    """Send due reminders from the outbox (08:00–21:00 Asia/Shanghai)."""
    from dataclasses import asdict

    from zxt import relay as relay_mod

    now = datetime.fromisoformat(at).astimezone(BUREAU_TZ) if at else None
    stats = relay_mod.run_relay(now=now)
    out = asdict(stats)
    out["outcomes"] = dict(stats.outcomes)
    _print(out)


@app.command("bank-drop")
def bank_drop(date_: DateOpt) -> None:
    """Deliver bank referral files for a published current business date."""
    from dataclasses import asdict

    from zxt import bank_drop as bank_drop_mod

    _print([asdict(r) for r in bank_drop_mod.deliver_bank_referrals(_deliverable(date_))])


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def airflow(ctx: typer.Context) -> None:
    """Run the Airflow CLI with this project's AIRFLOW_HOME, DAGs and plugins (e.g. `zxt airflow dags list`)."""
    from zxt import airflow_env, dbt_cli

    if not (get_settings().dbt_project_dir / "target" / "manifest.json").exists():
        dbt_cli.parse()
    airflow_env.ensure_db()
    raise typer.Exit(airflow_env.run(list(ctx.args)).returncode)


@sim_app.command("sms")
def sim_sms(
    port: Annotated[int, typer.Option()] = 18080,
    record: Annotated[Path | None, typer.Option(help="Append accepted messages (JSONL).")] = None,
) -> None:
    """Run the Tencent Cloud SMS gateway simulator on 127.0.0.1 until interrupted."""
    from zxt.sms import simulator

    argv = ["--host", "127.0.0.1", "--port", str(port)]
    if record:
        argv += ["--record", str(record)]
    raise typer.Exit(simulator.main(argv))


@sim_app.command("sftp")
def sim_sftp(port: Annotated[int, typer.Option()] = 18022) -> None:
    """Run the bank SFTP server on 127.0.0.1 until interrupted (inboxes under .zxt/sftp/root)."""
    from zxt import sftp_server

    sftp_server.main(["--host", "127.0.0.1", "--port", str(port)])


@app.command()
def demo(
    date_: Annotated[str, typer.Option("--date", "-d", help="Business date to run.")] = "2026-11-12",
    enterprises: Annotated[int, typer.Option(help="County size.")] = 15000,
) -> None:
    """Generate a county, run zxt_nightly and zxt_outreach_relay for one date, print a summary."""
    from zxt import demo as demo_mod

    raise typer.Exit(demo_mod.run(_date(date_), enterprises=enterprises, console=console))


@app.command()
def bench(
    enterprises: Annotated[int, typer.Option(help="County size.")] = 15000,
    seed: Annotated[int, typer.Option()] = 42,
) -> None:
    """Benchmark ingest (landing → raw) against PostgreSQL's own COPY, on a separate warehouse."""
    from zxt import bench as bench_mod

    with console.status(f"benchmarking ingest of a {enterprises:,}-enterprise county"):
        r = bench_mod.run_ingest(enterprises=enterprises, seed=seed)
    console.print(
        f"county {r.enterprises:,} enterprises: {r.files} files, {r.bytes / 1e6:.1f} MB, synth {r.synth_s:.1f}s\n"
        f"ingest: {r.rows_loaded:,} rows loaded, {r.rows_rejected:,} rejected in {r.ingest_s:.2f}s "
        f"= {r.rows_per_s:,.0f} rows/s\n"
        f"COPY baseline (filings file, untyped): {r.copy_baseline_rows:,} rows in {r.copy_baseline_s:.2f}s "
        f"= {r.copy_rows_per_s:,.0f} rows/s; ingest reaches {r.rows_per_s / r.copy_rows_per_s:.0%} of it"
    )


@app.command()
def summary(date_: DateOpt) -> None:
    """Print what a date produced: rows per layer, rejects, warnings, messages, bank files."""
    from zxt import report

    report.print_summary(_date(date_), console)


if __name__ == "__main__":
    app()
