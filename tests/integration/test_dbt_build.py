"""`dbt build` of the whole project (seeds, models, data tests and unit tests) on a generated county."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

AS_OF = date(2026, 11, 12)


@pytest.fixture(scope="module")
def built(engine, tmp_path_factory):
    import os

    from tests.support import reset_warehouse
    from zxt.core.settings import reset_settings
    from zxt.ingest import load as ingest
    from zxt.transform import dbt_runner as dbt_cli
    from zxt_sandbox import synth

    reset_warehouse(engine)
    landing = tmp_path_factory.mktemp("landing")
    old = {k: os.environ.get(k) for k in ("ZXT_LANDING_DIR", "ZXT_ARCHIVE_DIR")}
    os.environ["ZXT_LANDING_DIR"] = str(landing)
    os.environ["ZXT_ARCHIVE_DIR"] = str(tmp_path_factory.mktemp("archive"))
    reset_settings()
    try:
        synth.generate(landing, AS_OF, AS_OF, enterprises=300, seed=11)
        ingest.ingest_until(AS_OF)
        dbt_cli.invoke(["build"], as_of=AS_OF)  # raises DbtFailed when any test fails
    finally:
        for k, v in old.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
        reset_settings()
    return engine


def test_build_passes_with_unit_tests_and_fills_the_marts(built):
    with built.connect() as conn:
        assert (
            conn.execute(
                sa.text("select count(*) from marts.credit_warning where as_of_date = :d"), {"d": AS_OF}
            ).scalar()
            > 0
        )
        # Every warning's rule version follows its evaluation year.
        wrong = conn.execute(
            sa.text(
                """select count(*) from marts.credit_warning
               where (evaluation_year <= 2024 and rule_version <> '2014-amended')
                  or (evaluation_year >= 2025 and rule_version <> '2025')"""
            )
        ).scalar()
        assert wrong == 0
        # 2025 counts 010101 and 010102 each once per month, apart from each other: never more than
        # 5 projected points per enterprise, month and indicator. The county has withholding
        # obligations, so a check summing both indicators would find months with 10.
        per_indicator = conn.execute(
            sa.text(
                """select indicator_code, max(s) from (
                 select uscc, indicator_code, date_trunc('month', deadline_date), sum(projected_deduction) s
                 from marts.credit_warning where rule_version = '2025' group by 1, 2, 3) x
                 group by 1"""
            )
        ).all()
        assert dict(per_indicator).keys() == {"010101", "010102"}
        assert all(top == 5 for _, top in per_indicator), per_indicator
        both = conn.execute(
            sa.text(
                """select count(*) from (
                 select uscc, date_trunc('month', deadline_date), sum(projected_deduction) s
                 from marts.credit_warning where rule_version = '2025' group by 1, 2) x where s > 5"""
            )
        ).scalar()
        assert both > 0, "no enterprise-month with both a late return and a late withholding return"


def test_a_wrong_expectation_makes_the_build_fail(built, tmp_path):
    """The dbt unit tests can fail: run one against a deliberately wrong expectation."""
    import shutil

    from zxt.core.settings import get_settings
    from zxt.transform import dbt_runner as dbt_cli

    project = get_settings().paths.dbt_project_dir
    copy = tmp_path / "dbt_project"
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns("target", "logs"))
    yml = copy / "models" / "intermediate" / "_intermediate.yml"
    yml.write_text(
        yml.read_text().replace("filing_status: late, days_late: 1", "filing_status: late, days_late: 2")
    )
    from dbt.cli.main import dbtRunner

    dbt_cli.invoke(["parse"])  # keep the real project's manifest fresh
    result = dbtRunner().invoke(
        [
            "test",
            "--select",
            "int_filings__expected_vs_actual,test_type:unit",
            "--project-dir",
            str(copy),
            "--profiles-dir",
            str(copy),
            "--target-path",
            str(tmp_path / "target"),
        ]
    )
    assert not result.success
    # Exactly the edited unit test fails, on the value that was changed; the others still pass.
    outcome = {r.node.name: str(r.status) for r in result.result.results}
    failed = {name for name, status in outcome.items() if status != "pass"}
    assert failed == {"deadline_extended_by_holiday_is_on_time"}, outcome
    [bad] = [r for r in result.result.results if r.node.name in failed]
    diff = re.sub(r"\x1b\[[0-9;]*m", "", bad.message)  # dbt colours the diff
    assert "days_late" in diff and "2→1" in diff and len(outcome) == 4


def _count(engine, table: str, day: date) -> int:
    with engine.connect() as conn:
        return conn.execute(
            sa.text(f"select count(*) from {table} where as_of_date = :d"), {"d": day}
        ).scalar()


def test_a_rebuild_that_yields_no_rows_empties_its_partition(built):
    """Every authorisation revoked in a re-sent drop: the rebuilt date must refer nobody to a bank.
    No obligations left: the rebuilt date must show no warning (delete+insert kept the old rows)."""
    from zxt.transform import dbt_runner as dbt_cli

    other = AS_OF - timedelta(days=1)
    assert _count(built, "marts.bank_referral", AS_OF) > 0
    assert _count(built, "marts.credit_warning", AS_OF) > 0
    marts = ("marts.bank_referral", "marts.credit_warning")
    with built.begin() as conn:
        for table in marts:  # five rows of another date, which the rebuild must leave alone
            conn.execute(
                sa.text(f"insert into {table} select * from {table} where as_of_date = :d limit 5"),
                {"d": AS_OF},
            )
            conn.execute(
                sa.text(
                    f"""update {table} set as_of_date = :o
                        where ctid in (select ctid from {table} where as_of_date = :d order by ctid desc limit 5)"""
                ),
                {"o": other, "d": AS_OF},
            )
        conn.execute(sa.text("create table ops.saved_auth as select * from raw.bank__authorisations"))
        conn.execute(sa.text("create table ops.saved_obl as select * from raw.tax__obligations"))
        conn.execute(sa.text("update raw.bank__authorisations set revoked_date = :r"), {"r": other})
        conn.execute(sa.text("delete from raw.tax__obligations"))
    try:
        dbt_cli.invoke(["run", "--select", "+bank_referral", "+credit_warning"], as_of=AS_OF)
        assert _count(built, "marts.bank_referral", AS_OF) == 0
        assert _count(built, "marts.credit_warning", AS_OF) == 0
        assert [_count(built, t, other) for t in marts] == [5, 5]
    finally:
        with built.begin() as conn:
            conn.execute(sa.text("truncate raw.bank__authorisations, raw.tax__obligations"))
            conn.execute(sa.text("insert into raw.bank__authorisations select * from ops.saved_auth"))
            conn.execute(sa.text("insert into raw.tax__obligations select * from ops.saved_obl"))
            conn.execute(sa.text("drop table ops.saved_auth, ops.saved_obl"))
            for table in marts:
                conn.execute(sa.text(f"delete from {table} where as_of_date = :o"), {"o": other})
        dbt_cli.invoke(["run", "--select", "+bank_referral", "+credit_warning"], as_of=AS_OF)
    assert _count(built, "marts.bank_referral", AS_OF) > 0
