"""``zxt stage-reminders`` / ``zxt relay`` / ``zxt bank-drop``: delivery, guarded by the delivery policy."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated

import typer

from zxt.cli.common import DateOpt, console, parse_date, print_json
from zxt.core.settings import BUREAU_TZ


def deliverable(date_: str, mart: str) -> date:
    """The date, if delivery may act on it (current business date, ``mart`` published); else exit saying why."""
    from zxt.core import delivery_policy
    from zxt.quality import publish

    as_of = parse_date(date_)
    decision = delivery_policy.decide(as_of, "manual")
    if not decision.deliver:
        console.print(decision.reason)
        raise typer.Exit(0)
    if not publish.is_published(as_of, mart):
        raise typer.BadParameter(
            f"{mart} is not published for {as_of}; run the nightly DAG or `zxt publish` first"
        )
    return as_of


def stage_reminders(date_: DateOpt) -> None:
    """Stage SMS reminders for the published current business date into delivery.outbox."""
    from zxt.delivery import outbox

    print_json(asdict(outbox.stage_reminders(deliverable(date_, "credit_warning"))))


def relay(
    at: Annotated[str | None, typer.Option(help="Act as of this time (ISO, default now).")] = None,
) -> None:
    """Send due reminders from the outbox (08:00–21:00 Asia/Shanghai)."""
    from zxt.delivery import relay as relay_mod

    now = datetime.fromisoformat(at).astimezone(BUREAU_TZ) if at else None
    stats = relay_mod.run_relay(now=now)
    out = asdict(stats)
    out["outcomes"] = dict(stats.outcomes)
    print_json(out)


def bank_drop(
    date_: DateOpt,
    redeliver: Annotated[
        bool,
        typer.Option(
            help="Deliver under the next sequence number (manifest `replaces` the earlier one): after a "
            "conflict was settled with the bank, or when the date's data changed since it was delivered."
        ),
    ] = False,
    bank: Annotated[str | None, typer.Option(help="Only this bank.")] = None,
    product: Annotated[str | None, typer.Option(help="Only this product.")] = None,
) -> None:
    """Deliver bank referral files for a published current business date (once; see --redeliver)."""
    from zxt.bank import drop
    from zxt.core.errors import NeedsOperator

    as_of = deliverable(date_, drop.MART)
    try:
        results = drop.deliver_bank_referrals(as_of, redeliver=redeliver, only=(bank, product))
    except NeedsOperator as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    print_json([asdict(r) for r in results])


outbox_app = typer.Typer(help="The reminder outbox (delivery.outbox).", no_args_is_help=True)


@outbox_app.command("replay")
def outbox_replay(
    status: Annotated[
        list[str],
        typer.Option("--status", help="dead (attempts used up) and/or failed (refused as permanent)."),
    ],
    since: Annotated[
        str | None, typer.Option(help="Only rows that reached that status at or after this time (ISO).")
    ] = None,
    channel: Annotated[str | None, typer.Option(help="Only this channel (sms …).")] = None,
) -> None:
    """Put dead or failed reminders back in the queue after a fix; never one that may have been sent."""
    from zxt.delivery import replay

    when = datetime.fromisoformat(since) if since else None
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=BUREAU_TZ)
    try:
        result = replay.replay(status, since=when, channel=channel)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--status") from None
    print_json(asdict(result))


def register(app: typer.Typer) -> None:
    app.add_typer(outbox_app, name="outbox")
    app.command("stage-reminders")(stage_reminders)
    app.command()(relay)
    app.command("bank-drop")(bank_drop)
