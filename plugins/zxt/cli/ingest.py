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


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="ingest")
