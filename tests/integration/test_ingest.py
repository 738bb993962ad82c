"""Landing → raw against the real warehouse: COPY, set-wise validation, rejects, archive, reloads."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from zxt.core import identifiers as uscc
from zxt.ingest import contracts

HEADER = (
    "uscc,taxpayer_name,registered_date,tax_info_confirmed_date,first_declaration_date,status,entity_type,"
    "industry_code,vat_taxpayer_type,branch_code,officer_code,contact_name,contact_mobile,is_exporter,is_key_source\n"
)
GOOD = uscc.make("91421381MA4F0A0B1")
GOOD2 = uscc.make("91421381MA4F0A0C2")
BAD_CHECK = GOOD[:17] + ("0" if GOOD[17] != "0" else "1")


def row(
    code: str,
    name: str = "广水市风机制造有限公司",
    mobile: str = "13812345678",
    registered: str = "2020-01-02",
) -> str:
    return f"{code},{name},{registered},2020-01-05,2020-02-10,normal,company,C3462,general,14213810100,O01,张三,{mobile},0,1\n"


@pytest.fixture
def landing(tmp_path, monkeypatch, clean_warehouse):
    from zxt.core.settings import reset_settings

    monkeypatch.setenv("ZXT_LANDING_DIR", str(tmp_path / "landing"))
    monkeypatch.setenv("ZXT_ARCHIVE_DIR", str(tmp_path / "archive"))
    reset_settings()
    yield tmp_path / "landing"
    reset_settings()


def drop(landing: Path, dataset: str, day: str, name: str, text: str, encoding: str) -> Path:
    folder = landing / dataset / day
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


def ingest(day: str):
    from zxt.ingest import load as ingest_mod

    return ingest_mod.ingest_until(date.fromisoformat(day))


def rows(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).all()


def test_bad_rows_are_rejected_with_file_row_and_rule_while_the_rest_loads(landing, engine):
    body = (
        HEADER
        + row(GOOD)
        + row(BAD_CHECK, name="坏码公司")
        + row(GOOD2, mobile="1381234567")
        + row(GOOD, name="重复")
    )
    drop(landing, "tax/taxpayers", "2026-11-10", "taxpayers.csv", body, "gb18030")
    [result] = ingest("2026-11-10")
    assert (result["rows_loaded"], result["rows_rejected"]) == (1, 3)
    loaded = rows(
        engine, "select uscc, taxpayer_name, is_key_source, _row_number, _source_file from raw.tax__taxpayers"
    )
    assert loaded == [(GOOD, "广水市风机制造有限公司", True, 2, "tax/taxpayers/2026-11-10/taxpayers.csv")]
    rejects = rows(engine, "select row_number, rule, reason from raw.rejects order by row_number")
    assert [(r.row_number, r.rule) for r in rejects] == [(3, "uscc"), (4, "mobile"), (5, "duplicate_key")]
    assert "check digit" in rejects[0].reason and "contact_mobile" in rejects[1].reason


def test_a_file_in_the_wrong_encoding_is_rejected_whole_with_the_reason(landing, engine):
    drop(landing, "tax/taxpayers", "2026-11-10", "taxpayers.csv", HEADER + row(GOOD), "utf-8")
    [result] = ingest("2026-11-10")
    assert (result["status"], result["rows_read"], result["rows_loaded"], result["rows_rejected"]) == (
        "quarantined",
        1,
        0,
        1,
    )
    [(rule, reason)] = rows(engine, "select distinct rule, reason from raw.rejects")
    assert rule == "encoding" and "UTF-8" in reason and "GB18030" in reason


def test_undecodable_lines_are_rejected_and_the_good_lines_load(landing, engine):
    header = "uscc,tax_type,period_start,period_end,filed_date,sales_amount,tax_payable,tax_paid\n"
    good = f"{GOOD},VAT,2026-10-01,2026-10-31,2026-11-05,1000.00,130.00,130.00\n".encode("gb18030")
    bad = (
        f"{GOOD},VAT,2026-09-01,2026-09-30,2026-10-05,1000.00,130.00,130.00\n".encode("ascii")[:-8]
        + b"\x81\x20\n"
    )
    folder = landing / "tax/filings/2026-11-10"
    folder.mkdir(parents=True)
    (folder / "filings.csv").write_bytes(header.encode() + good + bad)
    [result] = ingest("2026-11-10")
    assert (result["rows_loaded"], result["rows_rejected"]) == (1, 1)
    [(n, rule)] = rows(engine, "select row_number, rule from raw.rejects")
    assert (n, rule) == (3, "encoding")


def test_a_missing_contract_column_rejects_every_row(landing, engine):
    text = (
        "event_id,uscc,contact_mobile,event_type,event_date\nE1," + GOOD + ",13812345678,opt_out,2026-11-10\n"
    )
    drop(landing, "contact/consents", "2026-11-10", "consents.csv", text, "utf-8")
    [result] = ingest("2026-11-10")
    assert (result["status"], result["rows_loaded"], result["rows_rejected"]) == ("quarantined", 0, 1)
    [(rule, reason)] = rows(engine, "select rule, reason from raw.rejects")
    assert rule == "missing_column" and "channel" in reason


def test_reloading_is_idempotent_and_a_changed_drop_replaces_its_rows(landing, engine):
    path = drop(landing, "tax/taxpayers", "2026-11-10", "taxpayers.csv", HEADER + row(GOOD), "gb18030")
    first = ingest("2026-11-10")
    again = ingest("2026-11-10")
    assert not first[0]["skipped"] and again[0]["skipped"]
    assert rows(engine, "select count(*) from raw.tax__taxpayers")[0][0] == 1
    path.write_bytes((HEADER + row(GOOD) + row(GOOD2)).encode("gb18030"))
    changed = ingest("2026-11-10")
    assert changed[0]["rows_loaded"] == 2
    assert rows(engine, "select count(*) from raw.tax__taxpayers")[0][0] == 2
    assert rows(engine, "select count(*) from ops.load_batches")[0][0] == 1
    # Both versions of the original are archived under their hashes.
    archived = sorted(p.name for p in (landing.parent / "archive").rglob("*taxpayers.csv"))
    assert len(archived) == 2


def test_drops_after_the_date_are_not_loaded(landing, engine):
    drop(landing, "tax/taxpayers", "2026-11-10", "taxpayers.csv", HEADER + row(GOOD), "gb18030")
    drop(landing, "tax/taxpayers", "2026-11-11", "taxpayers.csv", HEADER + row(GOOD2), "gb18030")
    assert len(ingest("2026-11-10")) == 1
    assert rows(engine, "select max(_drop_date) from raw.tax__taxpayers")[0][0] == date(2026, 11, 10)


def test_every_contract_has_a_raw_table_with_lineage(engine, clean_warehouse):
    for ds in contracts.load_contracts().values():
        cols = {
            c
            for (c,) in rows(
                engine,
                "select column_name from information_schema.columns "
                "where table_schema = 'raw' and table_name = :t",
                t=ds.raw_table,
            )
        }
        assert (
            set(ds.column_names)
            | {"_batch_id", "_source_file", "_row_number", "_drop_date", "_loaded_at", "_extra"}
            == cols
        )


def test_no_personal_data_in_logs(landing, engine, caplog):
    drop(
        landing,
        "tax/taxpayers",
        "2026-11-10",
        "taxpayers.csv",
        HEADER + row(BAD_CHECK, mobile="13999999999"),
        "gb18030",
    )
    with caplog.at_level("DEBUG"):
        ingest("2026-11-10")
    assert "13999999999" not in caplog.text and BAD_CHECK not in caplog.text
    assert os.environ["ZXT_LANDING_DIR"]


def test_a_file_withdrawn_from_a_resent_drop_loses_its_rows(landing, engine):
    drop(landing, "tax/taxpayers", "2026-11-10", "taxpayers.csv", HEADER + row(GOOD), "gb18030")
    extra = drop(landing, "tax/taxpayers", "2026-11-10", "more.csv", HEADER + row(GOOD2), "gb18030")
    ingest("2026-11-10")
    assert rows(engine, "select count(*) from raw.tax__taxpayers")[0][0] == 2
    extra.unlink()
    ingest("2026-11-10")
    assert rows(engine, "select uscc from raw.tax__taxpayers") == [(GOOD,)]
    assert rows(engine, "select count(*) from ops.load_batches")[0][0] == 1


def test_dates_must_be_iso_even_where_postgresql_would_accept_them(landing, engine):
    body = HEADER + row(GOOD, registered="today") + row(GOOD2, registered="05/01/2025")
    drop(landing, "tax/taxpayers", "2026-11-10", "taxpayers.csv", body, "gb18030")
    [result] = ingest("2026-11-10")
    assert (result["rows_loaded"], result["rows_rejected"]) == (0, 2)
    assert {r for (r,) in rows(engine, "select rule from raw.rejects")} == {"date"}
