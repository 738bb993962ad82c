"""Accounting, idempotency, late and corrected drops, encoding decisions: real ingest on PostgreSQL."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from tests.integration.test_ingest_bad_files import FILINGS, TAXPAYERS, A, B, C, filing, lines, put, taxpayer
from zxt.ingest import contracts, prescan

pytestmark = pytest.mark.integration


@pytest.fixture
def landing(tmp_path, monkeypatch, clean_warehouse):
    from zxt.core.settings import reset_settings

    monkeypatch.setenv("ZXT_LANDING_DIR", str(tmp_path / "landing"))
    monkeypatch.setenv("ZXT_ARCHIVE_DIR", str(tmp_path / "archive"))
    reset_settings()
    yield tmp_path / "landing"
    reset_settings()


def ingest(day: str) -> list[dict]:
    from zxt.ingest import load

    return load.ingest_until(date.fromisoformat(day))


def q(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).all()


def test_the_report_balances_every_file_and_names_the_rules(landing, engine):
    from zxt.ingest import accounting

    put(landing, "tax/filings", "f.csv", lines(FILINGS, filing(A), filing(B, filed="2099-01-01"), filing(A)))
    put(landing, "tax/taxpayers", "t.csv", b"")
    ingest("2026-11-10")
    rep = accounting.report(date(2026, 11, 10))
    by_name = {Path(f["source_file"]).name: f for f in rep["files"]}
    f = by_name["f.csv"]
    assert (f["rows_read"], f["rows_loaded"], f["rows_rejected"], f["balanced"]) == (3, 1, 2, True)
    assert f["rejects_by_rule"] == {"bounds": 1, "duplicate_key": 1}
    assert by_name["t.csv"]["status"] == "quarantined"
    assert rep["totals"] == {
        "rows_read": 3,
        "rows_loaded": 1,
        "rows_rejected": 2,
        "files": 2,
        "quarantined": 1,
    }


def test_zxt_ingest_report_and_affected_commands(landing, engine):
    from zxt.cli.main import app

    put(landing, "tax/filings", "f.csv", lines(FILINGS, filing(A), filing(B, filed="2099-01-01")))
    runner = CliRunner()
    loaded = runner.invoke(app, ["ingest", "-d", "2026-11-10"])
    assert loaded.exit_code == 0, loaded.output
    assert "2 read: 1 loaded, 1 rejected" in loaded.output
    out = runner.invoke(app, ["ingest", "report", "-d", "2026-11-10"])
    assert out.exit_code == 0, out.output
    assert "2 read = 1 loaded + 1 rejected" in out.output and "bounds 1" in out.output
    out = runner.invoke(app, ["ingest", "affected"])
    assert out.exit_code == 0 and "as_of dates to rebuild: none" in out.output


def test_the_same_drop_twice_changes_nothing(landing, engine):
    put(landing, "tax/filings", "f.csv", lines(FILINGS, filing(A), filing(B)))
    first = ingest("2026-11-10")
    before = q(engine, "select uscc, _batch_id from raw.tax__filings order by 1")
    again = ingest("2026-11-10")
    assert [r["skipped"] for r in first + again] == [False, True]
    assert q(engine, "select uscc, _batch_id from raw.tax__filings order by 1") == before
    assert q(engine, "select count(*) from ops.load_batches") == [(1,)]
    assert q(engine, "select count(*) from ops.ingest_affected") == [(0,)]


def test_a_late_drop_loaded_out_of_order_records_the_dates_it_changes(landing, engine):
    from zxt.ingest import accounting

    put(landing, "tax/taxpayers", "t.csv", lines(TAXPAYERS, taxpayer(A)), day="2026-11-10")
    put(landing, "tax/taxpayers", "t.csv", lines(TAXPAYERS, taxpayer(A), taxpayer(B)), day="2026-11-12")
    put(landing, "tax/filings", "f.csv", lines(FILINGS, filing(A)), day="2026-11-12")
    ingest("2026-11-12")
    assert q(engine, "select count(*) from ops.ingest_affected") == [(0,)]  # in order: nothing to rebuild
    # The 11-11 drops arrive a day late, after 11-12 was loaded.
    put(landing, "tax/taxpayers", "t.csv", lines(TAXPAYERS, taxpayer(A), taxpayer(C)), day="2026-11-11")
    put(landing, "tax/filings", "f.csv", lines(FILINGS, filing(B)), day="2026-11-11")
    ingest("2026-11-12")
    changes = {
        r.dataset: (r.kind, r.affected_from, r.affected_to)
        for r in q(engine, "select dataset, kind, affected_from, affected_to from ops.ingest_affected")
    }
    assert changes == {
        # a snapshot stands until the next one; delta rows count for every later date
        "tax/taxpayers": ("late", date(2026, 11, 11), date(2026, 11, 11)),
        "tax/filings": ("late", date(2026, 11, 11), None),
    }
    assert accounting.affected()["as_of_dates"] == ["2026-11-11", "2026-11-12"]
    # Both days' rows are there, each with its own drop date.
    assert q(engine, "select _drop_date, uscc from raw.tax__filings order by 1") == [
        (date(2026, 11, 11), B),
        (date(2026, 11, 12), A),
    ]


def test_a_corrected_file_replaces_its_rows_and_records_a_correction(landing, engine):
    path = put(landing, "tax/filings", "f.csv", lines(FILINGS, filing(A, payable="130.00")), day="2026-11-10")
    put(landing, "tax/filings", "f.csv", lines(FILINGS, filing(B)), day="2026-11-11")
    ingest("2026-11-11")
    path.write_bytes(lines(FILINGS, filing(A, payable="99.00")))  # the sender restates yesterday's return
    [restated, unchanged] = ingest("2026-11-11")
    assert not restated["skipped"] and unchanged["skipped"]
    assert q(engine, "select uscc, tax_payable from raw.tax__filings order by _drop_date") == [
        (A, 99),
        (B, 130),
    ]
    assert q(engine, "select kind, affected_from, affected_to from ops.ingest_affected") == [
        ("correction", date(2026, 11, 10), None)
    ]


def test_a_drop_is_one_transaction(landing, engine, monkeypatch):
    """Two files of one drop share one transaction: if the second cannot be recorded (here: the
    warehouse refuses the connection mid-drop), the first's rows are not left behind either."""
    from zxt.ingest import load

    put(landing, "tax/filings", "a.csv", lines(FILINGS, filing(A)))
    put(landing, "tax/filings", "b.csv", lines(FILINGS, filing(B)))
    [drop] = load.plan(date(2026, 11, 10))
    original = load._ingest_file
    calls = []

    def second_fails(cur, *args):
        calls.append(args[2].name)
        if len(calls) == 2:  # the session dies mid-drop (killed by the admin: the loader may not)
            pid = cur.execute("select pg_backend_pid()").fetchone()[0]
            with engine.connect() as admin:
                admin.execute(sa.text("select pg_terminate_backend(:p)"), {"p": pid})
        return original(cur, *args)

    monkeypatch.setattr(load, "_ingest_file", second_fails)
    with pytest.raises(sa.exc.OperationalError):  # infrastructure failures propagate: the task retries
        load.ingest_drop(drop)
    monkeypatch.setattr(load, "_ingest_file", original)
    assert calls == ["a.csv", "b.csv"]
    assert q(engine, "select count(*) from raw.tax__filings") == [(0,)]
    assert q(engine, "select count(*) from ops.load_batches") == [(0,)]
    [a, b] = load.ingest_drop(drop)  # the retry loads both
    assert (a.rows_loaded, b.rows_loaded) == (1, 1)


@pytest.mark.parametrize(
    ("declared", "data", "used", "refused"),
    [
        ("utf-8", "\ufeffuscc\n广水\n".encode(), "utf-8 (declared, with BOM)", False),
        ("gb18030", "uscc\n广水\n".encode("gb18030"), "gb18030 (declared)", False),
        ("gb18030", "uscc\n广水\n".encode(), "gb18030 (declared) but the file is UTF-8", True),
        ("auto", "\ufeffuscc\n广水\n".encode(), "utf-8 (detected: byte-order mark)", False),
        ("auto", "uscc\n广水\n".encode(), "utf-8 (detected: valid UTF-8 throughout)", False),
        ("auto", "uscc\n广水\n".encode("gb18030"), "gb18030 (detected: not valid UTF-8)", False),
    ],
)
def test_encoding_is_declared_or_detected_and_the_decision_is_said(tmp_path, declared, data, used, refused):
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    decision = prescan.decide_encoding(declared, prescan.scan(path), "f.csv", "x/y")
    assert (decision.note, decision.refuse is not None) == (used, refused)


def test_a_gb18030_file_that_is_not_valid_utf8_is_not_mistaken_for_it(tmp_path):
    # GB18030 bytes that happen to contain UTF-8-like triples must not be judged UTF-8 as a whole.
    path = tmp_path / "f.csv"
    path.write_bytes("名称\n".encode("gb18030") + "浠涓".encode("gb18030") + b"\n")
    facts = prescan.scan(path)
    assert not facts.utf8 and facts.terminated and not facts.nul


def test_contract_bounds_are_checked_when_contracts_load(tmp_path):
    (tmp_path / "x.yml").write_text(
        "datasets:\n  x/y:\n    description: d\n    load: delta\n    encoding: utf-8\n    key: [a]\n"
        "    columns:\n      - {name: a, type: date, max: tomorrow}\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="neither YYYY-MM-DD nor drop"):
        contracts.load_contracts.__wrapped__(tmp_path)


def test_a_contract_may_declare_when_its_drop_is_due(tmp_path):
    """expected_by in a landing contract wins over expectations/sources.yml for that dataset."""
    import dataclasses
    from datetime import time

    from zxt.core.settings import get_settings
    from zxt.ingest.source_policy import policy_for

    policy_file = get_settings().paths.expectations_dir / "sources.yml"
    ds = contracts.get("hr/insured_staff")
    assert policy_for(ds, policy_file).expected_by == time(1, 0)  # the policy file's default
    declared = dataclasses.replace(ds, expected_by="06:30")
    deadline = policy_for(declared, policy_file).deadline(date(2026, 11, 12))
    assert (deadline.date(), deadline.time()) == (date(2026, 11, 13), time(6, 30))
