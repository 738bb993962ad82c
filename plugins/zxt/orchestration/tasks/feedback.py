"""Task of ``zxt_feedback``: receipts, replies, follow-ups and delivery rates."""

from __future__ import annotations

from airflow.sdk import task


@task
def feedback() -> dict:
    """Pull receipts and replies, settle messages, mark phone follow-ups, report per-channel rates."""
    from dataclasses import asdict

    from airflow.exceptions import AirflowException

    from zxt.delivery import feedback as fb

    stats = fb.run_feedback()
    if stats.pull_errors:
        # Everything local was done; failing makes the missing pull visible and retried.
        raise AirflowException("; ".join(stats.pull_errors))
    return asdict(stats)
