"""``zxt summary``: what a business date produced."""

from __future__ import annotations

import typer

from zxt.cli.common import DateOpt, console, parse_date


def summary(date_: DateOpt) -> None:
    """Print what a date produced: rows per layer, rejects, warnings, messages, bank files."""
    from zxt.ops import summary as summary_mod

    summary_mod.print_summary(parse_date(date_), console)


def register(app: typer.Typer) -> None:
    app.command()(summary)
