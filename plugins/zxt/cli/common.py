"""Shared helpers of the ``zxt`` command groups: console, date option, JSON output, progress bars."""

from __future__ import annotations

import json
import sys
from datetime import date
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

# Wide enough for the summary tables when output goes to a file or CI log.
console = Console(width=None if sys.stdout.isatty() else 120)

DateOpt = Annotated[str, typer.Option("--date", "-d", help="Business date (as_of_date), YYYY-MM-DD.")]


def parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


def print_json(obj: object) -> None:
    console.print_json(json.dumps(obj, ensure_ascii=False, default=str))


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
