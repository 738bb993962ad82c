"""Warehouse roles on a real PostgreSQL: each role may do its job and nothing else.

The pipeline's roles are reached the way tasks reach them (``warehouse.engine(role=...)``); officers
log in with their own login and password, as a person would. The officers' view is generated and
secured by the same code publish runs (``officer_views.refresh`` as the transformer).
"""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.integration

D = date(2026, 11, 12)
# Two branches; one company and one individual business (named after its operator) in each.
ROWS = [
    ("B01", "91420981MA4XXXXX01", "广水市恒泰建材有限公司", "company", "王伟", "13812345678"),
    ("B01", "92420981MA4XXXXX02", "李娜", "individual_business", "李娜", "13912345678"),
    ("B02", "91420981MA4XXXXX03", "广水市永兴机械有限公司", "company", "张强", "13712345678"),
    ("B02", "92420981MA4XXXXX04", "刘洋", "individual_business", "刘洋", "13612345678"),
]
PASSWORD = "officer-test-password"


def denied(engine: sa.Engine, sql: str, **params) -> str:
    """Run ``sql`` as the engine's role, expecting PostgreSQL to refuse it; returns the message."""
    with pytest.raises(sa.exc.ProgrammingError) as caught, engine.begin() as conn:
        conn.execute(sa.text(sql), params)
    message = str(caught.value.orig)
    assert "permission denied" in message, message
    return message


def allowed(engine: sa.Engine, sql: str, **params):
    """Run ``sql`` as the engine's role and roll it back (the test only asks whether it may)."""
    with engine.connect() as conn, conn.begin() as txn:
        result = conn.execute(sa.text(sql), params)
        out = result.all() if result.returns_rows else result.rowcount
        txn.rollback()
    return out


@pytest.fixture
def published(clean_warehouse):
    """A credit_warning mart built as dbt builds it (by the transformer), published for D, and two
    officer logins: officer_b01 mapped to branch B01, officer_none mapped to nothing."""
    from zxt.core import mart_registry
    from zxt.quality import officer_views
    from zxt.warehouse import server as warehouse

    admin = clean_warehouse
    transformer = warehouse.engine(role="transformer")
    with transformer.begin() as conn:
        conn.execute(
            sa.text(
                "create table marts.credit_warning (as_of_date date, uscc varchar(18), taxpayer_name text, "
                "entity_type text, branch_code text, contact_name text, contact_mobile varchar(11))"
            )
        )
        for branch, uscc, name, kind, contact, mobile in ROWS:
            conn.execute(
                sa.text("insert into marts.credit_warning values (:d, :u, :n, :k, :b, :c, :m)"),
                {"d": D, "u": uscc, "n": name, "k": kind, "b": branch, "c": contact, "m": mobile},
            )
        conn.execute(
            sa.text("insert into ops.publish_marts (mart, as_of_date) values ('credit_warning', :d)"),
            {"d": D},
        )
        officer_views.refresh(conn, mart_registry.load().get("credit_warning"))
    with admin.begin() as conn:
        for login in ("officer_b01", "officer_none"):
            conn.execute(sa.text(f"drop role if exists {login}"))
            conn.execute(sa.text(f"create role {login} login password '{PASSWORD}' in role zxt_officer"))
        conn.execute(
            sa.text(
                "insert into ops.officer_branches (officer_login, branch_code) values ('officer_b01', 'B01')"
            )
        )
    yield admin
    with admin.begin() as conn:
        conn.execute(sa.text("drop view if exists marts.credit_warning_current"))
        for login in ("officer_b01", "officer_none"):
            conn.execute(sa.text(f"drop role if exists {login}"))


def officer(login: str) -> sa.Engine:
    from zxt.core.settings import get_settings

    pg = dataclasses.replace(get_settings().warehouse.pg, user=login, password=PASSWORD)
    return sa.create_engine(pg.url)


def test_each_task_role_runs_as_its_group_role(clean_warehouse):
    from zxt.warehouse import server as warehouse

    for role in ("loader", "transformer", "delivery"):
        with warehouse.engine(role=role).connect() as conn:
            assert conn.execute(sa.text("select current_user")).scalar() == f"zxt_{role}"
            # A pooled connection keeps its role: it is the session's default, not a SET that RESET undoes.
            conn.execute(sa.text("reset role"))
            assert conn.execute(sa.text("select current_user")).scalar() == f"zxt_{role}"


def test_loader_writes_raw_and_ops_but_reads_nothing_derived_or_delivered(published):
    from zxt.warehouse import server as warehouse

    loader = warehouse.engine(role="loader")
    assert allowed(loader, "delete from raw.tax__taxpayers") == 0
    allowed(
        loader,
        "insert into raw.rejects (batch_id, dataset, drop_date, source_file, row_number, rule, reason) "
        "values (gen_random_uuid(), 'tax/taxpayers', :d, 'f.csv', 2, 'r', 'x')",
        d=D,
    )
    allowed(
        loader,
        "insert into ops.gate_results (as_of_date, gate, success, details) values (:d, 'source', true, '{}')",
        d=D,
    )
    denied(loader, "select * from marts.credit_warning")
    denied(loader, "select * from marts.credit_warning_current")
    denied(loader, "insert into marts.credit_warning (as_of_date) values (:d)", d=D)
    denied(loader, "select * from delivery.outbox")
    denied(loader, "delete from ops.publish_marts")
    denied(loader, "select * from ops.officer_branches")


def test_transformer_builds_from_raw_but_cannot_read_delivery_or_write_raw(published):
    from zxt.warehouse import server as warehouse

    transformer = warehouse.engine(role="transformer")
    allowed(transformer, "select contact_mobile from raw.tax__taxpayers")
    allowed(transformer, "create table marts.tmp_build as select 1 as x")
    allowed(transformer, "delete from ops.publish_marts where as_of_date = :d", d=D)
    denied(transformer, "select recipient from delivery.outbox")
    denied(transformer, "select * from delivery.send_attempts")
    denied(transformer, "select * from delivery.bank_ledger")
    # The one exception: the reminder decision (dbt) leaves opted-out recipients out, read-only.
    allowed(transformer, "select recipient from delivery.suppression")
    denied(transformer, "delete from delivery.suppression")
    denied(transformer, "insert into raw.tax__taxpayers (uscc) values ('x')")
    denied(transformer, "delete from raw.rejects")
    denied(transformer, "delete from ops.load_batches")


def test_delivery_reads_unmasked_contacts_and_writes_delivery_but_not_raw(published):
    from zxt.warehouse import server as warehouse

    delivery = warehouse.engine(role="delivery")
    mobiles = {m for (m,) in allowed(delivery, "select contact_mobile from marts.credit_warning")}
    assert mobiles == {r[5] for r in ROWS}  # every row, unmasked: it must send the reminder
    allowed(
        delivery, "insert into delivery.suppression (channel, recipient, reason) values ('sms', 'x', 't')"
    )
    allowed(delivery, "select event_type from raw.contact__consents")
    allowed(delivery, "select * from raw.bank__authorisations")
    denied(delivery, "insert into raw.contact__consents (uscc) values ('x')")
    denied(delivery, "delete from raw.bank__authorisations")
    denied(delivery, "delete from ops.load_batches")
    denied(delivery, "delete from ops.publish_marts")
    denied(delivery, "create table marts.mine (x int)")
    denied(delivery, "delete from marts.credit_warning")


def test_an_officer_sees_only_their_branch_masked_through_the_published_view(published):
    seen = allowed(
        officer("officer_b01"),
        "select branch_code, uscc, taxpayer_name, contact_name, contact_mobile from marts.credit_warning_current",
    )
    assert {r.branch_code for r in seen} == {"B01"} and len(seen) == 2
    by_uscc = {r.uscc: r for r in seen}
    company, person = by_uscc[ROWS[0][1]], by_uscc[ROWS[1][1]]
    assert company.taxpayer_name == "广水市恒泰建材有限公司"  # the enterprise's name is needed for work
    assert person.taxpayer_name == "李*"  # an individual business is named after a person
    assert {company.contact_name, person.contact_name} == {"王*", "李*"}
    assert company.contact_mobile == "138****5678"


def test_an_officer_without_a_branch_sees_no_rows(published):
    assert allowed(officer("officer_none"), "select * from marts.credit_warning_current") == []


def test_an_officer_cannot_read_marts_raw_delivery_or_the_branch_map(published):
    engine = officer("officer_b01")
    denied(engine, "select * from marts.credit_warning")
    denied(engine, "select * from raw.tax__taxpayers")
    denied(engine, "select * from delivery.outbox")
    denied(engine, "select * from ops.officer_branches")
    denied(engine, "insert into ops.officer_branches values ('officer_b01', 'B02')")
    denied(engine, "update marts.credit_warning_current set branch_code = 'B01'")
    # The filter is the table's row-level security, not the view's text: another path through the
    # views' owner role gets the same rows.
    assert (
        allowed(engine, "select count(*) from marts.credit_warning_current where branch_code = 'B02'")[0][0]
        == 0
    )


def test_row_level_security_is_on_the_mart_and_the_pipeline_reads_every_row(published):
    admin = published
    with admin.connect() as conn:
        assert conn.execute(
            sa.text("select relrowsecurity from pg_class where oid = 'marts.credit_warning'::regclass")
        ).scalar()
        policies = set(
            conn.execute(
                sa.text("select policyname from pg_policies where tablename = 'credit_warning'")
            ).scalars()
        )
        assert policies == {"officer_branch", "pipeline"}
        owner = conn.execute(
            sa.text(
                "select pg_get_userbyid(relowner) from pg_class where oid = 'marts.credit_warning_current'::regclass"
            )
        ).scalar()
        assert owner == "zxt_officer_views"
        # Administrators and the pipeline are not officers: all rows through the view too.
        assert conn.execute(sa.text("select count(*) from marts.credit_warning_current")).scalar() == len(
            ROWS
        )


def test_tables_created_later_get_their_roles_grants(clean_warehouse):
    """Default privileges: a model dbt adds later (as the transformer) and a table a later migration
    adds (as the admin login) are readable by the right roles and only by them."""
    from zxt.warehouse import server as warehouse

    with warehouse.engine(role="transformer").begin() as conn:
        conn.execute(sa.text("create table marts.new_mart as select 'B01'::text as branch_code"))
        conn.execute(sa.text("create table rules.new_seed as select 1 as x"))
        conn.execute(sa.text("create table int.new_step as select 1 as x"))
    with clean_warehouse.begin() as conn:
        conn.execute(sa.text("create table raw.new__dataset (x int)"))
        conn.execute(sa.text("create table delivery.new_channel (recipient text)"))
        conn.execute(sa.text("create table ops.new_bookkeeping (x int)"))
    delivery = warehouse.engine(role="delivery")
    loader = warehouse.engine(role="loader")
    transformer = warehouse.engine(role="transformer")
    allowed(delivery, "select * from marts.new_mart")
    allowed(delivery, "select * from rules.new_seed")
    allowed(delivery, "select * from int.new_step")  # current contacts for a fallback channel
    denied(delivery, "insert into int.new_step values (2)")
    denied(loader, "select * from int.new_step")
    denied(loader, "select * from marts.new_mart")
    allowed(loader, "insert into raw.new__dataset values (1)")
    allowed(transformer, "select * from raw.new__dataset")
    denied(transformer, "insert into raw.new__dataset values (1)")
    allowed(delivery, "insert into delivery.new_channel values ('x')")
    denied(transformer, "select * from delivery.new_channel")
    denied(loader, "select * from delivery.new_channel")
    for engine in (loader, transformer, delivery):
        allowed(engine, "insert into ops.new_bookkeeping values (1)")


def test_reapplying_the_roles_keeps_what_publish_granted(published):
    """Every upgrade re-applies the grants: officers keep their views, the map keeps its rows."""
    from zxt.warehouse import migrate

    migrate.upgrade(published)
    seen = allowed(officer("officer_b01"), "select branch_code from marts.credit_warning_current")
    assert {r.branch_code for r in seen} == {"B01"} and len(seen) == 2
    denied(officer("officer_b01"), "select * from marts.credit_warning")


def test_officer_branches_are_kept_by_the_admin_commands(published):
    from zxt.warehouse import roles

    with published.begin() as conn:
        roles.grant_branches(conn, "officer_none", ["B02"])
        with pytest.raises(ValueError, match="not a login in role zxt_officer"):
            roles.grant_branches(conn, "zxt_loader", ["B01"])
    assert {
        r.branch_code for r in allowed(officer("officer_none"), "select * from marts.credit_warning_current")
    } == {"B02"}
    with published.begin() as conn:
        assert dict(roles.officers(conn)) == {"officer_b01": ["B01"], "officer_none": ["B02"]}
        assert roles.revoke_branches(conn, "officer_none", None) == 1
    assert allowed(officer("officer_none"), "select * from marts.credit_warning_current") == []


def test_each_task_role_can_log_in_with_its_own_password(clean_warehouse, monkeypatch):
    """Production: ZXT_WAREHOUSE_<ROLE>_URL names the role's own login; `zxt warehouse logins`
    creates it from that URL, and the task's session is that login acting as the group role."""
    from typer.testing import CliRunner

    from zxt.cli.main import app
    from zxt.core.settings import Settings, get_settings, reset_settings
    from zxt.warehouse import server as warehouse

    pg = get_settings().warehouse.pg
    url = f"postgresql://zxt_loader_test:l%40der-pw@{pg.host}:{pg.port}/{pg.dbname}"
    monkeypatch.setenv("ZXT_WAREHOUSE_LOADER_URL", url)
    reset_settings()
    try:
        result = CliRunner().invoke(app, ["warehouse", "logins"])
        assert result.exit_code == 0, result.output
        assert "zxt_loader_test (created) in zxt_loader" in result.output
        loader = warehouse.engine(Settings(), role="loader")
        with loader.connect() as conn:
            who = conn.execute(sa.text("select session_user, current_user")).one()
        assert tuple(who) == ("zxt_loader_test", "zxt_loader")
        allowed(loader, "delete from raw.tax__taxpayers")
        denied(loader, "select * from delivery.outbox")
        # Run again (a changed password): the login is updated, not duplicated.
        again = CliRunner().invoke(app, ["warehouse", "logins"])
        assert "zxt_loader_test (password updated)" in again.output
        loader.dispose()
    finally:
        reset_settings()
        with clean_warehouse.begin() as conn:
            conn.execute(sa.text("drop role if exists zxt_loader_test"))
