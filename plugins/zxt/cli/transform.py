"""``zxt dbt``: the dbt project with the warehouse connection and ``as_of_date`` set."""

from __future__ import annotations

from typing import Annotated

import typer

from zxt.cli.common import parse_date


def dbt(
    args: Annotated[list[str], typer.Argument(help="dbt arguments, e.g. build --select marts")],
    date_: Annotated[str | None, typer.Option("--date", "-d", help="as_of_date var")] = None,
) -> None:
    """Run dbt on the project with the warehouse connection and as_of_date set."""
    from zxt.transform import dbt_runner

    dbt_runner.invoke(list(args), as_of=parse_date(date_) if date_ else None)


def register(app: typer.Typer) -> None:
    app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(dbt)
