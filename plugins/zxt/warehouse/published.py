"""What is published (read side; ``zxt.quality.publish`` writes it).

``ops.publish_marts`` holds one row per mart and published date; ``ops.publish_log`` one row per date
published in full (every gated mart). Delivery reads a mart only for a date it was published for.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa


def is_published(conn: sa.Connection, as_of: date, mart: str | None = None) -> bool:
    """Whether ``mart`` (or, without one, the whole date) is published for ``as_of``."""
    if mart is None:
        sql, params = "select 1 from ops.publish_log where as_of_date = :d", {"d": as_of}
    else:
        sql = "select 1 from ops.publish_marts where as_of_date = :d and mart = :m"
        params = {"d": as_of, "m": mart}
    return bool(conn.execute(sa.text(sql), params).scalar())


def latest(conn: sa.Connection, mart: str) -> date | None:
    """The date ``<mart>_current`` shows."""
    return conn.execute(
        sa.text("select max(as_of_date) from ops.publish_marts where mart = :m"), {"m": mart}
    ).scalar()
