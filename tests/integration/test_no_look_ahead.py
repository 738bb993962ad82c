"""No look-ahead: the marts for date D do not change when facts dated after D arrive.

A county is generated for D and the ten days after it. The marts for D are built once from the
drops up to D, then again after every later drop (filings of returns overdue on D, newer registry
snapshots, consent events) has been loaded: every gated mart's partition for D must be identical."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from tests.support import gated_marts, reset_warehouse

pytestmark = pytest.mark.integration

D = date(2026, 11, 12)
LATER = D + timedelta(days=10)


def _digests(engine, marts: list[str]) -> dict[str, tuple[int, str]]:
    out = {}
    with engine.connect() as conn:
        for mart in marts:
            n, digest = conn.execute(
                sa.text(
                    f"""select count(*), md5(coalesce(string_agg(r::text, '|' order by r::text), ''))
                        from marts.{mart} as r where as_of_date = :d"""
                ),
                {"d": D},
            ).one()
            out[mart] = (n, digest)
    return out


def test_marts_for_a_date_ignore_later_facts(engine, tmp_path, monkeypatch):
    from zxt.core.settings import reset_settings
    from zxt.ingest import load as ingest
    from zxt.transform import dbt_runner
    from zxt_sandbox import synth

    reset_warehouse(engine)
    monkeypatch.setenv("ZXT_LANDING_DIR", str(tmp_path / "landing"))
    monkeypatch.setenv("ZXT_ARCHIVE_DIR", str(tmp_path / "archive"))
    reset_settings()
    try:
        synth.generate(tmp_path / "landing", D, LATER, enterprises=300, seed=23)
        marts = gated_marts()
        ingest.ingest_until(D)
        dbt_runner.invoke(["seed"])
        dbt_runner.invoke(["run"], as_of=D)
        before = _digests(engine, marts)
        assert all(n > 0 for n, _ in before.values()), before

        ingest.ingest_until(LATER)
        with engine.connect() as conn:
            # The later drops really hold facts that would change D's marts if they leaked: returns
            # overdue on D that were filed afterwards.
            leaked_if_read = conn.execute(
                sa.text(
                    """select count(*) from raw.tax__filings as f
                       join marts.credit_warning as w
                         on w.uscc = f.uscc and w.tax_type = f.tax_type and w.period_start = f.period_start
                       where w.as_of_date = :d and w.warning_type = 'filing_overdue' and f._drop_date > :d"""
                ),
                {"d": D},
            ).scalar()
        assert leaked_if_read > 0

        dbt_runner.invoke(["run"], as_of=D)
        assert _digests(engine, marts) == before
    finally:
        reset_settings()
