"""Source gate on a small generated county (real ingest, real PostgreSQL; no dbt, no GX): bad drops are
caught per dataset and block exactly the marts that read them. About 1-2 s per test."""

from __future__ import annotations

import csv
import shutil
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from tests.support import gated_marts, reset_warehouse

pytestmark = pytest.mark.integration

D = date(2026, 11, 12)
START = D - timedelta(days=4)


@pytest.fixture
def county(engine, tmp_path, monkeypatch):
    from zxt.core.settings import reset_settings
    from zxt_sandbox import synth

    landing = tmp_path / "landing"
    monkeypatch.setenv("ZXT_LANDING_DIR", str(landing))
    monkeypatch.setenv("ZXT_ARCHIVE_DIR", str(tmp_path / "archive"))
    monkeypatch.setenv("ZXT_TODAY", (D + timedelta(days=1)).isoformat())
    reset_settings()
    reset_warehouse(engine)
    synth.generate(landing, START, D, enterprises=60, seed=5)
    yield landing
    reset_settings()


def _file(landing, dataset: str, day: date = D):
    [path] = (landing / dataset / day.isoformat()).glob("*.csv")
    return path


def _rewrite(path, keep) -> int:
    """Rewrite a drop file (in its own encoding) keeping the header and ``keep(rows)``; returns rows kept."""
    encoding = "gb18030" if "/tax/" in str(path) else "utf-8"
    with path.open(encoding=encoding, newline="") as fh:
        header, *rows = list(csv.reader(fh))
    rows = keep(rows)
    with path.open("w", encoding=encoding, newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows([header, *rows])
    return len(rows)


def _check(engine):
    from zxt.ingest import load as ingest
    from zxt.ingest import source_gate

    ingest.ingest_until(D)
    return source_gate.check_sources(D)


def _recorded(engine, name: str) -> tuple[bool, str | None, dict]:
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                """select success, severity, observed from ops.gate_results
                   where as_of_date = :d and gate = 'sources' and check_name = :c
                   order by checked_at desc limit 1"""
            ),
            {"d": D, "c": name},
        ).one()
    return row.success, row.severity, row.observed


def test_good_drops_pass_and_every_check_is_recorded(county, engine):
    report = _check(engine)
    assert report["errors"] == [] and report["blocked_marts"] == {}
    assert report["datasets"]["tax/taxpayers"]["checks"] == {
        "arrival": "ok",
        "rejected_share": "ok",
        "volume": "ok",
        "quarantine": "ok",
    }
    assert report["datasets"]["tax/taxpayers"]["read_by"] == gated_marts()  # all read the registry
    ok, severity, observed = _recorded(engine, "tax/taxpayers: volume")
    assert ok and severity is None and observed["ratio"] == 1.0  # judged: four earlier drops
    with engine.connect() as conn:
        inputs = dict(
            conn.execute(
                sa.text(
                    "select mart, success from ops.gate_results where run_id = :r and check_name = 'inputs'"
                ),
                {"r": report["run_id"]},
            ).all()
        )
    assert inputs == dict.fromkeys(gated_marts(), True)


def test_a_registry_cut_to_40_percent_blocks_every_mart(county, engine):
    from zxt.core.errors import GateFailed

    kept = _rewrite(_file(county, "tax/taxpayers"), lambda rows: rows[: len(rows) * 4 // 10])
    with pytest.raises(GateFailed, match=r"tax/taxpayers: volume: .*rows loaded against a median"):
        _check(engine)
    ok, severity, observed = _recorded(engine, "tax/taxpayers: volume")
    assert (ok, severity, observed["rows_loaded"]) == (False, "error", kept)
    assert observed["ratio"] < 0.5


def test_a_filings_drop_refused_whole_blocks_its_readers(county, engine):
    from zxt.core.errors import GateFailed

    # Every row's USCC loses its check character: the contract refuses all of them.
    def corrupt(rows):
        rows = (rows * 12)[:12]
        return [[r[0][:17] + ("0" if r[0][17] != "0" else "1"), *r[1:]] for r in rows]

    path = _file(county, "tax/filings")
    if not list(csv.reader(path.open(encoding="gb18030")))[1:]:  # a quiet day: borrow the first drop's rows
        shutil.copy(_file(county, "tax/filings", START), path)
    _rewrite(path, corrupt)
    with pytest.raises(GateFailed) as info:
        _check(engine)
    assert "tax/filings: rejected_share" in str(info.value) and "12 of 12 rows rejected" in str(info.value)
    ok, severity, observed = _recorded(engine, "tax/filings: rejected_share")
    assert (ok, severity, observed["share"]) == (False, "error", 1.0)


def test_a_late_authorisation_drop_blocks_only_the_bank_referrals(county, engine):
    shutil.rmtree(county / "bank/authorisations" / D.isoformat())
    report = _check(engine)  # credit_warning can still publish: no exception
    assert list(report["blocked_marts"]) == ["bank_referral"]
    [blocked_by] = report["blocked_marts"]["bank_referral"]
    assert blocked_by["dataset"] == "bank/authorisations" and blocked_by["check"] == "arrival"
    assert (
        "late: was due by 2026-11-13 01:00" in blocked_by["reason"] or "not due yet" in blocked_by["reason"]
    )

    from zxt.quality import mart_gate

    result = mart_gate.check_mart("bank_referral", D)  # blocked before any GX work
    assert result.status == "blocked" and "bank/authorisations arrival" in result.errors[0]


def test_a_legitimately_empty_snapshot_passes_an_empty_registry_does_not(county, engine):
    from zxt.core.errors import GateFailed

    for day_dir in (county / "bank/authorisations").iterdir():  # no enterprise has authorised a bank yet
        _rewrite(next(day_dir.glob("*.csv")), lambda rows: [])
    report = _check(engine)
    assert report["blocked_marts"] == {}
    assert report["datasets"]["bank/authorisations"]["rows_loaded"] == 0

    _rewrite(_file(county, "tax/taxpayers"), lambda rows: [])
    with pytest.raises(GateFailed, match="tax/taxpayers: volume: the drop has no rows"):
        _check(engine)


def test_a_quarantined_file_blocks_the_marts_that_read_it_with_the_reason(county, engine):
    path = _file(county, "bank/authorisations")
    path.write_bytes(path.read_bytes()[:-5])  # the last line lost its tail: the file is cut off
    report = _check(engine)  # the night goes on: credit_warning still publishes
    assert list(report["blocked_marts"]) == ["bank_referral"]
    ok, severity, observed = _recorded(engine, "bank/authorisations: quarantine")
    assert (ok, severity) == (False, "warning")  # the drop's only file: arrival is the error
    assert "truncated" in observed["reason"] and path.name in observed["reason"]
    ok, severity, _ = _recorded(engine, "bank/authorisations: arrival")
    assert (ok, severity) == (False, "error")


def test_a_date_folder_linked_out_of_the_landing_zone_is_refused_and_blocks(county, engine, tmp_path):
    folder = county / "bank/authorisations" / D.isoformat()
    outside = tmp_path / "elsewhere"
    shutil.move(folder, outside)
    folder.symlink_to(outside)
    report = _check(engine)
    assert list(report["blocked_marts"]) == ["bank_referral"]
    _, severity, observed = _recorded(engine, "bank/authorisations: quarantine")
    assert severity == "error" and "symlink" in observed["reason"]
    _, _, arrival = _recorded(engine, "bank/authorisations: arrival")
    assert "no file of the 2026-11-12 drop is loaded" in arrival["reason"]
