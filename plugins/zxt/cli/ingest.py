"""``zxt ingest``: landing zone → raw, the same code as the nightly ``ingest_drop`` tasks."""

from __future__ import annotations

from dataclasses import asdict

import typer

from zxt.cli.common import DateOpt, console, parse_date, progress


def ingest(date_: DateOpt) -> None:
    """Load every landing drop dated on or before the date (unchanged files are skipped)."""
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


def register(app: typer.Typer) -> None:
    app.command()(ingest)
