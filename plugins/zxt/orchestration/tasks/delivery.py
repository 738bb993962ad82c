"""Tasks: stage reminders, drop bank files (current business date only, never in a backfill), relay."""

from __future__ import annotations

from airflow.sdk import get_current_context, task

from zxt.orchestration.tasks.context import as_of, run_type


def _skip(reason: str):
    """Nothing to deliver by policy: the task shows as skipped (not a green success), reason in its log."""
    import logging

    from airflow.exceptions import AirflowSkipException

    logging.getLogger(__name__).warning("skipped: %s", reason)
    return AirflowSkipException(reason)


@task
def stage_reminders() -> dict:
    """Published warnings → delivery.outbox (sent later by zxt_outreach_relay)."""
    from dataclasses import asdict

    from zxt.core import delivery_policy
    from zxt.delivery import outbox
    from zxt.quality import publish

    decision = delivery_policy.decide(as_of(), run_type(get_current_context()))
    if not decision.deliver:
        raise _skip(decision.reason)
    if not publish.is_published(as_of(), "credit_warning"):  # its inputs were blocked tonight
        raise _skip(f"credit_warning is not published for {as_of()}: nothing staged")
    return {**asdict(outbox.stage_reminders(as_of())), "reason": decision.reason}


@task
def bank_drop() -> dict:
    """Referral files for each bank product into the bank's SFTP inbox, once per business date."""
    from dataclasses import asdict

    from airflow.exceptions import AirflowFailException

    from zxt.bank import drop
    from zxt.core import delivery_policy
    from zxt.core.errors import NeedsOperator
    from zxt.quality import publish

    decision = delivery_policy.decide(as_of(), run_type(get_current_context()))
    if not decision.deliver:
        raise _skip(decision.reason)
    if not publish.is_published(as_of(), drop.MART):  # its inputs were blocked tonight
        raise _skip(f"{drop.MART} is not published for {as_of()}: nothing sent")
    try:
        return {"drops": [asdict(r) for r in drop.deliver_bank_referrals(as_of())], "reason": decision.reason}
    except NeedsOperator as exc:  # a conflicting inbox or a lapsed authorisation: retrying cannot help
        raise AirflowFailException(str(exc)) from exc


@task
def relay() -> dict:
    """Send due outbox rows on the bureau's clock; outcomes recorded per row."""
    from dataclasses import asdict

    from zxt.delivery import relay as r

    stats = r.run_relay()
    out = asdict(stats)
    out["outcomes"] = dict(stats.outcomes)
    return out
