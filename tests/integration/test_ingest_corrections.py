"""A corrected drop for yesterday changes yesterday's warnings once yesterday is rebuilt: real ingest,
real dbt build, on a small generated county. (~2 dbt builds: a few minutes under load.)"""

from __future__ import annotations

import csv
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.integration

D = date(2026, 11, 12)
YESTERDAY = D - timedelta(days=1)


@pytest.fixture
def county(engine, tmp_path, monkeypatch):
    from tests.support import reset_warehouse
    from zxt.core.settings import reset_settings
    from zxt_sandbox import synth

    landing = tmp_path / "landing"
    monkeypatch.setenv("ZXT_LANDING_DIR", str(landing))
    monkeypatch.setenv("ZXT_ARCHIVE_DIR", str(tmp_path / "archive"))
    reset_settings()
    reset_warehouse(engine)
    synth.generate(landing, YESTERDAY, D, enterprises=200, seed=11)
    yield landing
    reset_settings()


def _overdue(engine, day: date) -> list:
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                """select uscc, tax_type, period_start, period_end from marts.credit_warning
                   where as_of_date = :d and warning_type = 'filing_overdue' order by 1, 2, 3"""
            ),
            {"d": day},
        ).all()


def test_a_restated_drop_for_yesterday_changes_yesterdays_warning_after_the_backfill(county, engine):
    from zxt.ingest import accounting
    from zxt.ingest import load as ingest
    from zxt.transform import dbt_runner as dbt_cli

    ingest.ingest_until(D)
    dbt_cli.invoke(["build", "--exclude", "test_type:unit"], as_of=YESTERDAY)
    before = _overdue(engine, YESTERDAY)
    assert before, "the county needs an overdue return on the day to correct"
    uscc, tax_type, start, end = before[0]

    # The collection system re-sends yesterday's filings: the return was received after all.
    [path] = (county / "tax/filings" / YESTERDAY.isoformat()).glob("*.csv")
    with path.open("a", encoding="gb18030", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerow(
            [
                uscc,
                tax_type,
                start.isoformat(),
                end.isoformat(),
                YESTERDAY.isoformat(),
                "1000.00",
                "0.00",
                "0.00",
            ]
        )
    changed = [r for r in ingest.ingest_until(D) if not r["skipped"]]
    assert [(r["source_file"], r["status"]) for r in changed] == [
        (f"tax/filings/{YESTERDAY}/{path.name}", "loaded")
    ]
    assert accounting.affected()["as_of_dates"] == [YESTERDAY.isoformat(), D.isoformat()]

    dbt_cli.invoke(["build", "--exclude", "test_type:unit"], as_of=YESTERDAY)  # the backfill
    after = _overdue(engine, YESTERDAY)
    assert (uscc, tax_type, start, end) not in after
    assert set(after) == set(before) - {(uscc, tax_type, start, end)}
