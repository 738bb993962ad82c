"""Run a multi-statement SQL script (DDL) on a SQLAlchemy connection."""

from __future__ import annotations

import sqlalchemy as sa


def execute_script(conn: sa.Connection, script: str) -> None:
    # psycopg runs several statements in one call only without parameters, on its own cursor;
    # SQLAlchemy's text() would also read ':name' as a bind parameter.
    with conn.connection.driver_connection.cursor() as cur:
        cur.execute(script)
