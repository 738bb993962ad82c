"""Publishing a date = recording it in ops.publish_log; the *_current views follow the latest one."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from zxt.core.settings import Settings, get_settings
from zxt.warehouse import migrate
from zxt.warehouse import server as warehouse


def publish(as_of: date, run_id: str = "", settings: Settings | None = None) -> None:
    engine = warehouse.engine(settings or get_settings())
    migrate.ensure_current(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into ops.publish_log (as_of_date, dag_run_id) values (:d, :r) "
                "on conflict (as_of_date) do update set published_at = now(), dag_run_id = excluded.dag_run_id"
            ),
            {"d": as_of, "r": run_id},
        )


def is_published(as_of: date, settings: Settings | None = None) -> bool:
    engine = warehouse.engine(settings or get_settings())
    migrate.ensure_current(engine)
    with engine.connect() as conn:
        return bool(
            conn.execute(
                sa.text("select 1 from ops.publish_log where as_of_date = :d"), {"d": as_of}
            ).scalar()
        )
