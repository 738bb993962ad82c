"""``zxt gate`` / ``zxt publish`` / ``zxt marts``: the gates, publishing a date, the gate registry."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from zxt.cli.common import DateOpt, console, parse_date, print_json


def gate(
    date_: DateOpt,
    mart: Annotated[
        list[str] | None, typer.Option("--mart", "-m", help="Gate only this mart (repeatable); default: all.")
    ] = None,
) -> None:
    """Run the source gate, then the mart gate of every gated mart (or the named ones), for a date."""
    from zxt.core import mart_registry
    from zxt.core.errors import GateFailed
    from zxt.ingest import source_gate
    from zxt.quality import mart_gate

    as_of = parse_date(date_)
    try:
        report = source_gate.check_sources(as_of)
        console.print(f"source gate: {len(report['errors'])} error(s), {len(report['warnings'])} warning(s)")
    except GateFailed as exc:  # every mart blocked: the mart gates record that too
        console.print(f"[red]{exc}[/]")
    names = mart or mart_registry.load().names
    results = [mart_gate.check_mart(name, as_of) for name in names]
    for r in results:
        colour = {"passed": "green", "blocked": "yellow"}.get(r.status, "red")
        console.print(f"[{colour}]{r.summary()}[/]")
    print_json([asdict(r) for r in results])
    if any(r.status == "failed" for r in results):
        raise typer.Exit(1)


def publish(date_: DateOpt) -> None:
    """Publish a date from its recorded gate results: officers' *_current views move to it."""
    from zxt.core.errors import GateFailed
    from zxt.quality import publish as publish_mod

    try:
        result = publish_mod.publish(parse_date(date_), run_id="zxt-cli")
    except GateFailed as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    print_json(asdict(result))


def marts() -> None:
    """List the gate registry: gated marts, suites, inputs, officers' views and masked columns."""
    from zxt.core import mart_registry
    from zxt.core.settings import get_settings

    settings = get_settings()
    registry = mart_registry.load(settings)
    print_json(
        [
            {
                "mart": m.relation,
                "suite": f"expectations/{m.suite}.json",
                "partition": m.partition,
                "reads": list(m.datasets),
                "officer_view": m.current_view if m.officer_view else None,
                "officer_columns": {c.name: c.officer for c in m.columns if c.officer != "shown"},
            }
            for m in registry
        ]
    )
    problems = mart_registry.problems(registry, settings.paths.expectations_dir)
    for p in problems:
        console.print(f"[red]{p}[/]")
    if problems:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(gate)
    app.command()(publish)
    app.command()(marts)
