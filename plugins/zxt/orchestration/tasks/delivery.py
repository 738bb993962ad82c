"""Tasks: stage reminders, drop bank files (current business date only, never in a backfill), relay."""

from __future__ import annotations

from airflow.sdk import get_current_context, task

from zxt.orchestration.tasks.context import as_of, run_type


@task
def stage_reminders() -> dict:
    """Published warnings → delivery.outbox (sent later by zxt_outreach_relay)."""
    from dataclasses import asdict

    from zxt.core import delivery_policy
    from zxt.delivery import outbox

    decision = delivery_policy.decide(as_of(), run_type(get_current_context()))
    if not decision.deliver:
        return {"staged": 0, "reason": decision.reason}
    return {**asdict(outbox.stage_reminders(as_of())), "reason": decision.reason}


@task
def bank_drop() -> dict:
    """Referral files for each bank product into the bank's SFTP inbox, once per business date."""
    from dataclasses import asdict

    from zxt.bank import drop
    from zxt.core import delivery_policy

    decision = delivery_policy.decide(as_of(), run_type(get_current_context()))
    if not decision.deliver:
        return {"drops": [], "reason": decision.reason}
    return {"drops": [asdict(r) for r in drop.deliver_bank_referrals(as_of())], "reason": decision.reason}


@task
def relay() -> dict:
    """Send due outbox rows on the bureau's clock; outcomes recorded per row."""
    from dataclasses import asdict

    from zxt.delivery import relay as r

    stats = r.run_relay()
    out = asdict(stats)
    out["outcomes"] = dict(stats.outcomes)
    return out
