"""Revision 031 on a warehouse that already published and delivered: nothing is lost. About 1 s."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.support import reset_warehouse
from zxt.warehouse import migrate

pytestmark = pytest.mark.integration


def test_031_keeps_what_was_published_and_delivered(engine):
    with engine.begin() as conn:
        for schema in ("raw", "ops", "delivery", "zxt", "stg", "int", "marts", "rules"):
            conn.execute(sa.text(f"drop schema if exists {schema} cascade"))
    migrate.forget_checks()
    assert migrate.upgrade(engine, "0002") == "0002"
    with engine.begin() as conn:
        conn.execute(
            sa.text("insert into ops.publish_log (as_of_date, dag_run_id) values ('2026-11-11', 'r1')")
        )
        conn.execute(
            sa.text(
                """insert into delivery.bank_ledger (bank_code, product_code, business_date, seq, data_file,
                     manifest_file, row_count, plaintext_sha256, status)
                   values ('GSRCB', 'NSXYD', '2026-11-11', 1, 'ZXT_GSRCB_REFERRAL_20261111_01.csv.gpg',
                     'ZXT_GSRCB_REFERRAL_20261111_01.manifest.json', 3, repeat('a', 64), 'delivered')"""
            )
        )
    try:
        assert migrate.upgrade(engine) == migrate.head()
        with engine.begin() as conn:
            published = conn.execute(
                sa.text("select mart, as_of_date::text, dag_run_id from ops.publish_marts order by mart")
            ).all()
            assert [tuple(r) for r in published] == [
                ("bank_referral", "2026-11-11", "r1"),
                ("credit_warning", "2026-11-11", "r1"),
            ]
            marker = conn.execute(sa.text("select marker_file from delivery.bank_ledger")).scalar()
            assert marker == "ZXT_GSRCB_REFERRAL_20261111_01.ok"
            # A delivery can now be written ahead of its upload, and a conflict recorded.
            conn.execute(
                sa.text("update delivery.bank_ledger set status = 'prepared', payload = '\\x00'::bytea")
            )
            conn.execute(sa.text("update delivery.bank_ledger set status = 'conflict'"))
            with pytest.raises(sa.exc.IntegrityError), conn.begin_nested():
                conn.execute(sa.text("update delivery.bank_ledger set status = 'lost'"))
            assert (
                conn.execute(
                    sa.text("select zxt.mask_person_name('张三', 'individual_business', null)")
                ).scalar()
                == "张*"
            )
            assert (
                conn.execute(
                    sa.text(
                        "select zxt.mask_person_name('广水市某某有限公司', 'company', '91421381MA4ABCDE1X')"
                    )
                ).scalar()
                == "广水市某某有限公司"
            )
    finally:
        reset_warehouse(engine)
