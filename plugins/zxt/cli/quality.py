"""``zxt gate`` / ``zxt publish``: the mart gate and publishing a date."""

from __future__ import annotations

from dataclasses import asdict

import typer

from zxt.cli.common import DateOpt, console, parse_date, print_json


def gate(date_: DateOpt) -> None:
    """Run the credit_warning mart gate (GX) for a date."""
    from zxt.quality import mart_gate

    result = mart_gate.check_credit_warning(parse_date(date_))
    print_json(asdict(result))
    if not result.success:
        raise typer.Exit(1)


def publish(date_: DateOpt) -> None:
    """Publish a date (after its gate passed): officers' *_current views move to it."""
    from zxt.quality import mart_gate
    from zxt.quality import publish as publish_mod

    result = mart_gate.check_credit_warning(parse_date(date_))
    mart_gate.require_pass(result)
    publish_mod.publish(parse_date(date_), run_id="zxt-cli")
    console.print(f"published {date_}")


def register(app: typer.Typer) -> None:
    app.command()(gate)
    app.command()(publish)
