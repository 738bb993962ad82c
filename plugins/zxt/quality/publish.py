"""Publish a date: write–audit–publish over every gated mart at once.

Publish reads the latest mart gate verdict of each gated mart for the date (recorded by
``mart_gate``), in one transaction:
- any mart ``failed`` (or never gated): nothing is published; every ``*_current`` view keeps its
  previous date (a rebuilt date that was published before is withdrawn);
- marts ``blocked`` by the source gate (a late or refused input) keep their previous date; the others
  publish. Holding taxpayer reminders because a bank's authorisation file is late would miss filing
  deadlines, and a mart built only from complete inputs is as good as on any other night;
- ``ops.publish_log`` gets the date only when every gated mart published (the date is complete).
The officers' views are regenerated from the registry in the same transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa

from zxt.core import mart_registry
from zxt.core.errors import GateFailed
from zxt.core.settings import Settings, get_settings
from zxt.quality import officer_views
from zxt.warehouse import gate_log, migrate, published
from zxt.warehouse import server as warehouse

log = logging.getLogger(__name__)
_LOCK = 20241382  # advisory lock: one publish or withdrawal at a time


@dataclass
class PublishResult:
    as_of_date: str
    published: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    complete: bool = False
    views: list[str] = field(default_factory=list)


def publish(as_of: date, run_id: str = "", settings: Settings | None = None) -> PublishResult:
    """Publish every gated mart whose gate passed for ``as_of``; refuse if any failed."""
    settings = settings or get_settings()
    registry = mart_registry.load(settings)
    engine = warehouse.engine(settings, role="transformer")
    migrate.ensure_current(engine)
    result = PublishResult(as_of.isoformat())
    with engine.begin() as conn:
        conn.execute(sa.text("select pg_advisory_xact_lock(:k)"), {"k": _LOCK})
        verdicts = gate_log.latest_verdicts(conn, as_of, gate_log.MART_GATE)
        failed = [m for m in registry.names if verdicts.get(m) and verdicts[m].status == "failed"]
        ungated = [m for m in registry.names if m not in verdicts]
        if failed or ungated:
            withdraw(conn, as_of, None, "publish refused")
            refusal = _refusal(as_of, failed, ungated)
        else:
            refusal = ""
            _publish_marts(conn, registry, verdicts, as_of, run_id, result)
    if refusal:
        raise GateFailed(refusal)
    log.info(
        "published %s: %s%s; officers' views %s",
        as_of,
        result.published or "nothing",
        f" (kept their previous date, inputs blocked: {result.blocked})" if result.blocked else "",
        result.views,
    )
    return result


def _publish_marts(
    conn: sa.Connection,
    registry: mart_registry.Registry,
    verdicts: dict[str, gate_log.Verdict],
    as_of: date,
    run_id: str,
    result: PublishResult,
) -> None:
    for mart in registry:
        verdict = verdicts[mart.name]
        if verdict.status == "passed":
            conn.execute(
                sa.text(
                    """insert into ops.publish_marts (mart, as_of_date, dag_run_id, gate_run_id)
                       values (:m, :d, :r, cast(:g as uuid))
                       on conflict (mart, as_of_date) do update set published_at = now(),
                         dag_run_id = excluded.dag_run_id, gate_run_id = excluded.gate_run_id"""
                ),
                {"m": mart.name, "d": as_of, "r": run_id, "g": verdict.run_id},
            )
            result.published.append(mart.name)
        else:
            result.blocked.append(mart.name)
    if result.blocked:
        withdraw(conn, as_of, result.blocked, "inputs blocked by the source gate")
    result.complete = not result.blocked
    if result.complete:
        conn.execute(
            sa.text(
                """insert into ops.publish_log (as_of_date, dag_run_id) values (:d, :r)
                   on conflict (as_of_date) do update set published_at = now(), dag_run_id = excluded.dag_run_id"""
            ),
            {"d": as_of, "r": run_id},
        )
    for mart in registry:
        if mart.officer_view and published.latest(conn, mart.name) is not None:
            officer_views.refresh(conn, mart)
            result.views.append(mart.current_view)


def _refusal(as_of: date, failed: list[str], ungated: list[str]) -> str:
    reasons = []
    if failed:
        reasons.append(f"gate failed for {failed}")
    if ungated:
        reasons.append(f"never gated: {ungated} (run `zxt gate -d {as_of}`)")
    return (
        f"publish refused for {as_of}: {'; '.join(reasons)}. Nothing is published; every *_current view "
        f"keeps its previous date. Details: select * from ops.gate_results where as_of_date = '{as_of}' "
        "and not success"
    )


def withdraw(conn: sa.Connection, as_of: date, marts: list[str] | None, reason: str) -> int:
    """Unpublish ``as_of`` for ``marts`` (None = every mart): views fall back to the previous date."""
    conn.execute(sa.text("select pg_advisory_xact_lock(:k)"), {"k": _LOCK})
    if marts is None:
        n = conn.execute(
            sa.text("delete from ops.publish_marts where as_of_date = :d"), {"d": as_of}
        ).rowcount
    else:
        n = conn.execute(
            sa.text("delete from ops.publish_marts where as_of_date = :d and mart = any(:m)"),
            {"d": as_of, "m": marts},
        ).rowcount
    conn.execute(sa.text("delete from ops.publish_log where as_of_date = :d"), {"d": as_of})
    if n:
        log.warning(
            "withdrew %s for %s (%s): officers' views show the previous published date",
            marts or "every mart",
            as_of,
            reason,
        )
    return n


def is_published(as_of: date, mart: str | None = None, settings: Settings | None = None) -> bool:
    """Whether ``mart`` (without one: the whole date) is published for ``as_of``."""
    engine = warehouse.engine(settings or get_settings(), role="transformer")
    migrate.ensure_current(engine)
    with engine.connect() as conn:
        return published.is_published(conn, as_of, mart)
