"""Officers' ``<mart>_current`` views, generated from the registry (never written by hand per mart).

A view shows the mart's latest published partition (``ops.publish_marts``), each column as its YAML
``meta.officer`` says: shown (default), ``mask_mobile`` (138****5678), ``mask_name`` (张*),
``mask_person_name`` (masked when the taxpayer is an individual business / sole proprietorship, see
``zxt.core.identifiers.name_is_personal``; a company's name stays readable), or ``hidden`` (left out).

Views are ``security_barrier`` and keep their mart's ``branch_code``. Each view is owned by
``zxt_officer_views`` and readable by ``zxt_officer``; the mart under it has row-level security for
that owner (``zxt.warehouse.roles.secure_mart``), so an officer sees only the rows of the branches
``ops.officer_branches`` gives their login. Officers have no grant on the marts themselves.
"""

from __future__ import annotations

import psycopg
import sqlalchemy as sa

from zxt.core.mart_registry import GatedMart
from zxt.warehouse import roles
from zxt.warehouse.ddl import execute_script

MASKS = {
    "mask_mobile": "zxt.mask_mobile({col})",
    "mask_name": "zxt.mask_name({col})",
    "mask_person_name": "zxt.mask_person_name({col}, {entity_type}, {uscc})",
}
MASKED_NOTE = "(脱敏 masked)"
BRANCH_COLUMN = "branch_code"  # officers see the rows of their branches (row-level security)


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def table_columns(conn: sa.Connection, mart: GatedMart) -> list[str]:
    return [
        c
        for (c,) in conn.execute(
            sa.text(
                """select column_name from information_schema.columns
                   where table_schema = :s and table_name = :t order by ordinal_position"""
            ),
            {"s": mart.schema, "t": mart.name},
        ).all()
    ]


def view_sql(mart: GatedMart, columns: list[str], row_filter: str | None = None) -> str:
    """``create or replace view`` of ``<mart>_current`` over the table's ``columns`` (in order)."""
    present = set(columns)

    def ref(name: str) -> str:
        return f"w.{_q(name)}" if name in present else "null"

    select: list[str] = []
    for name in columns:
        policy = mart.column(name).officer if mart.column(name) else "shown"
        if policy == "hidden":
            continue
        if policy == "shown":
            select.append(f"w.{_q(name)}")
        else:
            expr = MASKS[policy].format(col=f"w.{_q(name)}", entity_type=ref("entity_type"), uscc=ref("uscc"))
            select.append(f"{expr} as {_q(name)}")
    where = (
        f"w.{_q(mart.partition)} = (select max(p.as_of_date) from ops.publish_marts as p "
        f"where p.mart = {_lit(mart.name)})"
    )
    if row_filter:
        where += f"\n  and ({row_filter})"
    return (
        f"create or replace view {mart.current_view} with (security_barrier = true) as\n"
        f"select\n  " + ",\n  ".join(select) + f"\nfrom {mart.relation} as w\nwhere {where}"
    )


def comments_sql(mart: GatedMart, columns: list[str]) -> list[str]:
    out = [
        f"comment on view {mart.current_view} is "
        + _lit(
            f"{mart.description.strip()} — 最新已发布数据 (latest published {mart.partition}); personal data masked"
        )
    ]
    for name in columns:
        col = mart.column(name)
        if col is not None and col.officer == "hidden":
            continue
        text = (col.description if col else "") + (
            f" {MASKED_NOTE}" if col and col.officer != "shown" else ""
        )
        if text.strip():
            out.append(f"comment on column {mart.current_view}.{_q(name)} is {_lit(text.strip())}")
    return out


def refresh(conn: sa.Connection, mart: GatedMart, row_filter: str | None = None) -> list[str]:
    """(Re)create the view inside the caller's transaction; returns the columns it shows."""
    columns = table_columns(conn, mart)
    if not columns:
        raise RuntimeError(f"{mart.relation} does not exist: build it (dbt) before publishing")
    sql = view_sql(mart, columns, row_filter)
    try:
        with conn.begin_nested():
            execute_script(conn, sql)
    except psycopg.Error:
        # The mart's columns changed shape (dropped, retyped): replace the view, keeping its grants.
        grants = conn.execute(
            sa.text(
                """select grantee, privilege_type from information_schema.role_table_grants
                   where table_schema = :s and table_name = :t and grantee <> current_user"""
            ),
            {"s": mart.schema, "t": f"{mart.name}_current"},
        ).all()
        execute_script(conn, f"drop view if exists {mart.current_view}")
        execute_script(conn, sql)
        for grantee, privilege in grants:
            execute_script(conn, f"grant {privilege} on {mart.current_view} to {_q(grantee)}")
    for statement in comments_sql(mart, columns):
        execute_script(conn, statement)
    roles.secure_mart(conn, mart.relation, has_branch=BRANCH_COLUMN in columns)
    roles.grant_view(conn, mart.current_view)
    return [c for c in columns if not (mart.column(c) and mart.column(c).officer == "hidden")]
