"""Source gate: the inputs a date needs must be there before dbt runs.

A snapshot dataset (registry, obligations, ratings, authorisations) must have rows loaded from a
drop dated exactly as_of_date: falling back to an older snapshot would, for example, send a bank an
enterprise that revoked its authorisation since, or text a contact's old number.
"""

from __future__ import annotations

import json
from datetime import date

import sqlalchemy as sa

from zxt.core.errors import GateFailed
from zxt.core.settings import Settings, get_settings
from zxt.ingest import contracts
from zxt.warehouse import migrate
from zxt.warehouse import server as warehouse


def check_sources(as_of: date, settings: Settings | None = None) -> dict:
    """Every snapshot dataset needs rows loaded from a drop dated ``as_of``; rejects are reported."""
    engine = warehouse.engine(settings or get_settings())
    migrate.ensure_current(engine)
    report: dict = {"as_of_date": as_of.isoformat(), "datasets": {}}
    missing: list[str] = []
    with engine.connect() as conn:
        for ds in contracts.load_contracts().values():
            row = conn.execute(
                sa.text(
                    """select max(drop_date) as latest,
                              coalesce(sum(rows_loaded) filter (where drop_date = :d), 0) as loaded,
                              coalesce(sum(rows_rejected) filter (where drop_date = :d), 0) as rejected
                       from ops.load_batches where dataset = :n and drop_date <= :d"""
                ),
                {"n": ds.name, "d": as_of},
            ).one()
            report["datasets"][ds.name] = {
                "latest_drop": row.latest.isoformat() if row.latest else None,
                "rows_loaded": int(row.loaded),
                "rows_rejected": int(row.rejected),
            }
            if ds.load == "snapshot" and not row.loaded:
                missing.append(ds.name)
    report["missing_snapshots"] = missing
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into ops.gate_results (as_of_date, gate, success, details) values (:d, 'sources', :s, :j)"
            ),
            {"d": as_of, "s": not missing, "j": json.dumps(report)},
        )
    if missing:
        raise GateFailed(
            f"source gate failed for {as_of}: no rows loaded from a {as_of} drop of {missing}; "
            "check the landing zone and raw.rejects (an older snapshot is not used in its place)"
        )
    return report
