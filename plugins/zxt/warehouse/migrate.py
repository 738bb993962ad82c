"""Versioned migrations of the Python-owned schemas (Alembic), run by ``zxt warehouse upgrade``.

``ensure_current`` is what tasks and commands call first: one query when the warehouse is at head
(the usual case: no DDL on a task's hot path); otherwise it upgrades under an advisory lock, so
concurrent callers wait for one upgrade instead of racing.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
VERSION_SCHEMA = "ops"
VERSION_TABLE = "alembic_version"
_LOCK = 20241381  # advisory lock key of schema changes
BASELINE = "0001"


def _config(conn: sa.Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if conn is not None:
        cfg.attributes["connection"] = conn
    return cfg


@cache
def head() -> str:
    heads = ScriptDirectory.from_config(_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"migrations have {len(heads)} heads {heads}: add a merge revision")
    return heads[0]


def current(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        exists = conn.execute(
            sa.text("select to_regclass(:t)"), {"t": f"{VERSION_SCHEMA}.{VERSION_TABLE}"}
        ).scalar()
        if exists is None:
            return None
        return conn.execute(sa.text(f"select version_num from {VERSION_SCHEMA}.{VERSION_TABLE}")).scalar()


def upgrade(engine: sa.Engine, revision: str = "head") -> str | None:
    """Upgrade to ``revision`` (default head) in one transaction; returns the version reached."""
    with engine.begin() as conn:
        conn.execute(sa.text("select pg_advisory_xact_lock(:k)"), {"k": _LOCK})
        conn.execute(sa.text(f"create schema if not exists {VERSION_SCHEMA}"))
        cfg = _config(conn)
        if _is_unversioned_skeleton(conn):
            # Built by the walking skeleton's `create if not exists`: that is exactly revision 0001.
            log.warning("warehouse has the skeleton's tables but no revision: stamping it %s", BASELINE)
            command.stamp(cfg, BASELINE)
        command.upgrade(cfg, revision)
        if revision == "head":
            # Tables a migration (or another admin login) created get their roles' grants too.
            from zxt.warehouse import roles

            roles.apply(conn)
    reached = current(engine)
    log.info("warehouse schema at %s", reached)
    return reached


def _is_unversioned_skeleton(conn: sa.Connection) -> bool:
    versioned = conn.execute(
        sa.text("select to_regclass(:t)"), {"t": f"{VERSION_SCHEMA}.{VERSION_TABLE}"}
    ).scalar()
    if (
        versioned is not None
        and conn.execute(sa.text(f"select count(*) from {VERSION_SCHEMA}.{VERSION_TABLE}")).scalar()
    ):
        return False
    return conn.execute(sa.text("select to_regclass('ops.load_batches')")).scalar() is not None


_checked: set[str] = set()


def ensure_current(engine: sa.Engine) -> None:
    """Make sure the warehouse is at head (cheap when it is; upgrades when it is behind). A task
    role's engine cannot change the schema: the upgrade runs on the admin login's engine."""
    key = str(engine.url)
    if key in _checked:
        return
    if current(engine) != head():
        from zxt.warehouse import server

        upgrade(server.admin_engine_of(engine))
    _checked.add(key)


def forget_checks() -> None:
    """Tests drop and rebuild schemas: check the version again next time."""
    _checked.clear()
