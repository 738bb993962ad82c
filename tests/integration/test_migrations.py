"""Versioned migrations: an old warehouse upgrades in place, nothing lost, and head matches the contracts."""

from __future__ import annotations

import sqlalchemy as sa

from tests.support import reset_warehouse
from zxt.ingest import contracts
from zxt.warehouse import migrate, raw_tables


def _columns(conn, table: str) -> dict[str, str]:
    rows = conn.execute(
        sa.text(
            "select column_name, format_type(a.atttypid, a.atttypmod) from information_schema.columns c "
            "join pg_attribute a on a.attrelid = ('raw.' || c.table_name)::regclass and a.attname = c.column_name "
            "where c.table_schema = 'raw' and c.table_name = :t"
        ),
        {"t": table},
    ).all()
    return dict(rows)


def _empty(engine) -> None:
    with engine.begin() as conn:
        for schema in ("raw", "ops", "delivery", "zxt", "stg", "int", "marts", "rules"):
            conn.execute(sa.text(f"drop schema if exists {schema} cascade"))
    migrate.forget_checks()


def test_upgrade_from_the_first_revision_keeps_data_and_adds_columns(engine, tmp_path):
    _empty(engine)
    assert migrate.upgrade(engine, "0001") == "0001"
    row = {"uscc": "91421381MA4ABCDE1X", "name": "广水市测试有限公司"}
    with engine.begin() as conn:
        assert "wechat_openid" not in _columns(conn, "tax__taxpayers")
        conn.execute(
            sa.text(
                """insert into raw.tax__taxpayers (uscc, taxpayer_name, registered_date, status, entity_type,
                     industry_code, vat_taxpayer_type, branch_code, officer_code, is_exporter, is_key_source,
                     _batch_id, _source_file, _row_number, _drop_date)
                   values (:uscc, :name, '2020-01-01', 'normal', 'company', 'C3462', 'general', 'B1', 'O1',
                     false, false, gen_random_uuid(), 'f.csv', 2, '2026-11-12')"""
            ),
            row,
        )
        conn.execute(
            sa.text(
                "insert into ops.gate_results (as_of_date, gate, success, details) "
                "values ('2026-11-12', 'credit_warning', true, '{}')"
            )
        )

    assert migrate.upgrade(engine) == migrate.head()

    with engine.begin() as conn:
        cols = _columns(conn, "tax__taxpayers")
        assert cols["wechat_openid"] == "text"
        kept = conn.execute(
            sa.text("select uscc, taxpayer_name, wechat_openid from raw.tax__taxpayers")
        ).all()
        assert [tuple(r) for r in kept] == [(row["uscc"], row["name"], None)]
        assert (
            conn.execute(sa.text("select count(*) from ops.gate_results where run_id is null")).scalar() == 1
        )
        # Loading again after the upgrade uses the new column.
        conn.execute(
            sa.text("update raw.tax__taxpayers set wechat_openid = 'oABC' where uscc = :u"),
            {"u": row["uscc"]},
        )
    reset_warehouse(engine)


def test_upgrade_is_idempotent_and_adopts_a_skeleton_warehouse(engine):
    _empty(engine)
    migrate.upgrade(engine, "0001")
    with engine.begin() as conn:  # what the skeleton left: its tables, no revision
        conn.execute(sa.text("drop table ops.alembic_version"))
    assert migrate.upgrade(engine) == migrate.head()
    assert migrate.upgrade(engine) == migrate.head()
    reset_warehouse(engine)


def test_head_matches_every_landing_contract(engine):
    reset_warehouse(engine)
    with engine.connect() as conn:
        for ds in contracts.load_contracts().values():
            cols = _columns(conn, ds.raw_table)
            for c in ds.columns:
                expected = raw_tables.PG_TYPES[c.type].replace("varchar", "character varying")
                assert cols.get(c.name) == expected, (
                    f"raw.{ds.raw_table}.{c.name}: contract says {c.type} ({expected}), warehouse has "
                    f"{cols.get(c.name)}; add a migration (zxt/warehouse/migrations/versions)"
                )
