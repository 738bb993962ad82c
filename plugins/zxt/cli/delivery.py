"""``zxt stage-reminders`` / ``zxt relay`` / ``zxt bank-drop``: delivery, guarded by the delivery policy."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated

import typer

from zxt.cli.common import DateOpt, console, parse_date, print_json
from zxt.core.settings import BUREAU_TZ


def deliverable(date_: str) -> date:
    """The date, if delivery may act on it (current business date, published); else exit saying why."""
    from zxt.core import delivery_policy
    from zxt.quality import publish

    as_of = parse_date(date_)
    decision = delivery_policy.decide(as_of, "manual")
    if not decision.deliver:
        console.print(decision.reason)
        raise typer.Exit(0)
    if not publish.is_published(as_of):
        raise typer.BadParameter(f"{as_of} is not published; run the nightly DAG or `zxt publish` first")
    return as_of


def stage_reminders(date_: DateOpt) -> None:
    """Stage SMS reminders for the published current business date into delivery.outbox."""
    from zxt.delivery import outbox

    print_json(asdict(outbox.stage_reminders(deliverable(date_))))


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


def bank_drop(date_: DateOpt) -> None:
    """Deliver bank referral files for a published current business date."""
    from zxt.bank import drop

    print_json([asdict(r) for r in drop.deliver_bank_referrals(deliverable(date_))])


def register(app: typer.Typer) -> None:
    app.command("stage-reminders")(stage_reminders)
    app.command()(relay)
    app.command("bank-drop")(bank_drop)
