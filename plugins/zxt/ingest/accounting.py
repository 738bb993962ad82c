"""What ingest did, from ops tables: per file rows read = loaded + rejected (``zxt ingest report``),
and the as_of dates that late or corrected drops changed (``zxt ingest affected``)."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from zxt.core.settings import Settings, get_settings
from zxt.warehouse import migrate
from zxt.warehouse import server as warehouse

FILES_SQL = """
select dataset, source_file, status, rows_read, rows_loaded, rows_rejected, encoding, load_path, reason, drift,
       loaded_at
from ops.load_batches where drop_date = :d order by dataset, source_file
"""
RULES_SQL = """
select source_file, rule, count(*) as n from raw.rejects where drop_date = :d group by 1, 2 order by 1, 2
"""
REFUSED_SQL = """
select path, dataset, drop_date, reason from ops.landing_refusals
where drop_date = :d or drop_date is null order by path
"""
AFFECTED_SQL = """
select dataset, drop_date, source_file, kind, affected_from, affected_to, recorded_at
from ops.ingest_affected where recorded_at >= coalesce(cast(:since as timestamptz), '-infinity')
order by recorded_at, dataset, source_file
"""


def report(as_of: date, settings: Settings | None = None) -> dict:
    """Every file of the drops dated ``as_of``: read, loaded, rejected (by rule), quarantined."""
    engine = warehouse.engine(settings or get_settings())
    migrate.ensure_current(engine)
    with engine.connect() as conn:
        rules: dict[str, dict[str, int]] = {}
        for r in conn.execute(sa.text(RULES_SQL), {"d": as_of}):
            rules.setdefault(r.source_file, {})[r.rule] = int(r.n)
        files = [
            {
                **r._asdict(),
                "rejects_by_rule": rules.get(r.source_file, {}),
                "balanced": r.rows_read == r.rows_loaded + r.rows_rejected,
            }
            for r in conn.execute(sa.text(FILES_SQL), {"d": as_of})
        ]
        refused = [r._asdict() for r in conn.execute(sa.text(REFUSED_SQL), {"d": as_of})]
    totals = {k: sum(f[k] for f in files) for k in ("rows_read", "rows_loaded", "rows_rejected")}
    totals["files"] = len(files)
    totals["quarantined"] = sum(f["status"] == "quarantined" for f in files)
    return {"drop_date": as_of.isoformat(), "files": files, "refused": refused, "totals": totals}


def affected(since: date | None = None, settings: Settings | None = None) -> dict:
    """Late or corrected drops recorded since ``since`` and the as_of dates to rebuild (a backfill
    of each, oldest first). An open range ends at the latest business date loaded so far."""
    engine = warehouse.engine(settings or get_settings())
    migrate.ensure_current(engine)
    with engine.connect() as conn:
        latest = conn.execute(sa.text("select max(drop_date) from ops.load_batches")).scalar()
        rows = [r._asdict() for r in conn.execute(sa.text(AFFECTED_SQL), {"since": since})]
    dates: set[date] = set()
    for r in rows:
        end = r["affected_to"] or latest or r["affected_from"]
        d = r["affected_from"]
        while d <= end:
            dates.add(d)
            d += timedelta(days=1)
    return {"changes": rows, "as_of_dates": [d.isoformat() for d in sorted(dates)]}
