"""``zxt ingest``: landing zone → raw (the same code as the nightly ``ingest_drop`` tasks), the
per-file accounting, and the dates that late or corrected drops changed."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from zxt.cli.common import DateOpt, console, parse_date, print_json, progress

app = typer.Typer(help="Landing zone → raw; accounting; affected dates.")


@app.callback(invoke_without_command=True)
def ingest(
    ctx: typer.Context,
    date_: Annotated[
        str | None, typer.Option("--date", "-d", help="Load drops dated on or before this date, YYYY-MM-DD.")
    ] = None,
) -> None:
    """Load every landing drop dated on or before the date (unchanged files are skipped)."""
    if ctx.invoked_subcommand is not None:
        return
    if date_ is None:
        raise typer.BadParameter("give the business date: zxt ingest -d YYYY-MM-DD")
    from zxt.ingest import load

    as_of = parse_date(date_)
    drops = load.plan(as_of)
    results = []
    with progress() as bar:
        task = bar.add_task("ingesting drops", total=len(drops))
        for drop in drops:
            results.extend(load.ingest_drop(drop))
            bar.advance(task)
    quarantined = 0
    for r in map(asdict, results):
        if r["skipped"]:
            flag = "skipped (unchanged)"
        elif r["status"] == "quarantined":
            quarantined += 1
            flag = f"[red]QUARANTINED[/red] {r['rows_read']:,} row(s) to raw.rejects — {r['reason']}"
        else:
            flag = f"{r['rows_read']:,} read: {r['rows_loaded']:,} loaded, {r['rows_rejected']:,} rejected"
        console.print(f"{r['source_file']}: {flag}", markup=True, highlight=False)
    if quarantined:
        console.print(f"{quarantined} file(s) quarantined; see `zxt ingest report -d {as_of}`")


@app.command()
def report(
    date_: DateOpt,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full report as JSON.")] = False,
) -> None:
    """Per file of the date's drops: rows read = loaded + rejected (by rule), quarantines, refusals."""
    from rich.table import Table

    from zxt.ingest import accounting

    rep = accounting.report(parse_date(date_))
    if as_json:
        print_json(rep)
        return
    t = Table("file", "status", "read", "loaded", "rejected", "by rule", "encoding", title=f"ingest {date_}")
    for f in rep["files"]:
        rules = ", ".join(f"{k} {v}" for k, v in f["rejects_by_rule"].items())
        status = f["status"] if f["balanced"] else f"{f['status']} (UNBALANCED)"
        t.add_row(
            f["source_file"], status, f"{f['rows_read']:,}", f"{f['rows_loaded']:,}", f"{f['rows_rejected']:,}",
            rules, f["encoding"],
        )  # fmt: skip
    console.print(t)
    for f in rep["files"]:
        if f["reason"]:
            console.print(f"[red]quarantined[/red] {f['source_file']}: {f['reason']}", highlight=False)
        if f["drift"]:
            console.print(f"schema drift {f['source_file']}: {f['drift']}", highlight=False)
    for r in rep["refused"]:
        console.print(f"[red]refused[/red] {r['path']}: {r['reason']}", highlight=False)
    tot = rep["totals"]
    console.print(
        f"{tot['files']} file(s), {tot['quarantined']} quarantined: {tot['rows_read']:,} read = "
        f"{tot['rows_loaded']:,} loaded + {tot['rows_rejected']:,} rejected"
    )


@app.command()
def affected(
    since: Annotated[
        str | None, typer.Option("--since", help="Only changes recorded on or after this date, YYYY-MM-DD.")
    ] = None,
) -> None:
    """The as_of dates that late or corrected drops changed: backfill them to rebuild."""
    from zxt.ingest import accounting

    rep = accounting.affected(parse_date(since) if since else None)
    for c in rep["changes"]:
        until = c["affected_to"] or "latest"
        console.print(
            f"{c['kind']}: {c['source_file']} (drop {c['drop_date']}) → as_of {c['affected_from']} .. {until}",
            highlight=False,
        )
    console.print(f"as_of dates to rebuild: {', '.join(rep['as_of_dates']) or 'none'}")


@app.command()
def pull(
    source: Annotated[
        list[str] | None,
        typer.Argument(
            help="Landing dataset (hr/insured_staff) or platform name (hr.insured_staff); default: all."
        ),
    ] = None,
    date_: DateOpt = "",
) -> None:
    """Pull external sources for a business date from the credit-sharing platform into the landing zone."""
    from zxt.core.settings import get_settings
    from zxt.ingest import contracts
    from zxt.ingest import pull as pull_mod
    from zxt.ingest.platform_client import PullFailed

    if not date_:
        raise typer.BadParameter("give the business date: --date YYYY-MM-DD")
    if not get_settings().platform.url:
        console.print("[red]ZXT_PLATFORM_URL is not set[/red]: no platform to pull from")
        raise typer.Exit(2)
    by_pull = {ds.pull: name for name, ds in contracts.load_contracts().items() if ds.pull}
    names = [by_pull.get(s, s) for s in source] if source else pull_mod.pullable()
    failed = 0
    for name in names:
        try:
            r = pull_mod.pull(name, parse_date(date_))
        except PullFailed as exc:
            failed += 1
            console.print(f"[red]{name}: pull failed[/red]: {exc}", highlight=False)
            continue
        drift = (
            f"; schema change: added {r.columns_added}, missing {r.columns_missing}"
            if r.columns_added or r.columns_missing
            else ""
        )
        console.print(
            f"{r.file}: {r.records:,} record(s), {'new' if r.changed else 'unchanged'}; "
            f"{r.stats['pages']} page(s), {r.stats['duplicates']} duplicate(s), {r.stats['retries']} retry(ies), "
            f"{r.stats['rate_limited']} rate limit(s), {r.stats['restarts']} restart(s){drift}",
            highlight=False,
        )
    if failed:
        raise typer.Exit(1)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="ingest")
