"""`dbt build` of the whole project (seeds, models, data tests and unit tests) on a generated county."""

from __future__ import annotations

from datetime import date

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
        # 2025 counts 010101 once per month: never more than 5 projected points per enterprise-month.
        over = conn.execute(
            sa.text(
                """select count(*) from (
                 select uscc, date_trunc('month', deadline_date), sum(projected_deduction) s
                 from marts.credit_warning where rule_version = '2025' group by 1, 2) x where s > 5"""
            )
        ).scalar()
        assert over == 0


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


def test_mart_gate_passes_on_the_built_partition(built):
    from zxt.quality import mart_gate as gate

    result = gate.check_credit_warning(AS_OF)
    assert result.success, result.failures
    assert result.rows > 0


def test_mart_gate_fails_and_blocks_on_a_bad_mobile_or_duplicate(built):
    from zxt.quality import mart_gate as gate

    with built.begin() as conn:
        conn.execute(
            sa.text(
                """update marts.credit_warning set contact_mobile = '1234567890'
               where ctid = (select ctid from marts.credit_warning where as_of_date = :d
                             and contact_mobile is not null limit 1)"""
            ),
            {"d": AS_OF},
        )
        conn.execute(
            sa.text(
                """insert into marts.credit_warning
               select * from marts.credit_warning where as_of_date = :d limit 1"""
            ),
            {"d": AS_OF},
        )
    try:
        result = gate.check_credit_warning(AS_OF)
        assert not result.success
        text = "; ".join(result.failures)
        assert "contact_mobile" in text and "uscc" in text  # the regex failure and the duplicate key
        with pytest.raises(gate.GateFailed, match="blocked"):
            gate.require_pass(result)
        with built.connect() as conn:
            recorded = conn.execute(
                sa.text(
                    "select success from ops.gate_results where gate = 'credit_warning' and as_of_date = :d "
                    "order by checked_at desc limit 1"
                ),
                {"d": AS_OF},
            ).scalar()
        assert recorded is False
    finally:
        from zxt.transform import dbt_runner as dbt_cli

        dbt_cli.invoke(["build", "--select", "credit_warning", "--exclude", "test_type:unit"], as_of=AS_OF)
