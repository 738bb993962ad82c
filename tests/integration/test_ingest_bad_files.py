"""The bad-file corpus: one landing file per failure mode, with the exact rows loaded, rejected
(rule, row, column) or the quarantine expected. After every case the accounting holds for every
file: rows read = rows loaded + rows rejected, and each count matches the rows in raw and rejects."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from zxt.core import identifiers as uscc

pytestmark = pytest.mark.integration

DAY = "2026-11-10"
A = uscc.make("91421381MA4F0A0B1")
B = uscc.make("91421381MA4F0A0C2")
C = uscc.make("91421381MA4F0A0D3")
FILINGS = "uscc,tax_type,period_start,period_end,filed_date,sales_amount,tax_payable,tax_paid"
TAXPAYERS = (
    "uscc,taxpayer_name,registered_date,tax_info_confirmed_date,first_declaration_date,status,entity_type,"
    "industry_code,vat_taxpayer_type,branch_code,officer_code,contact_name,contact_mobile,is_exporter,is_key_source"
)


def filing(code: str, month: int = 10, filed: str = "2026-11-05", payable: str = "130.00") -> str:
    return f"{code},VAT,2026-{month:02d}-01,2026-{month:02d}-28,{filed},1000.00,{payable},{payable}"


def taxpayer(code: str, name: str = "广水市风机制造有限公司") -> str:
    return f"{code},{name},2020-01-02,2020-01-05,2020-02-10,normal,company,C3462,general,14213810100,O01,张三,13812345678,0,1"


@pytest.fixture
def landing(tmp_path, monkeypatch, clean_warehouse):
    from zxt.core.settings import reset_settings

    monkeypatch.setenv("ZXT_LANDING_DIR", str(tmp_path / "landing"))
    monkeypatch.setenv("ZXT_ARCHIVE_DIR", str(tmp_path / "archive"))
    reset_settings()
    yield tmp_path / "landing"
    reset_settings()


def put(landing: Path, dataset: str, name: str, data: bytes, day: str = DAY) -> Path:
    folder = landing / dataset / day
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return folder / name


def lines(*rows: str, end: str = "\n", encoding: str = "gb18030") -> bytes:
    return "".join(r + end for r in rows).encode(encoding)


def ingest(day: str = DAY) -> list[dict]:
    from zxt.ingest import load

    return load.ingest_until(date.fromisoformat(day))


def q(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).all()


def accounted(engine) -> None:
    """Per file: read = loaded + rejected, and the counts are the rows actually in raw and rejects."""
    for f in q(engine, "select * from ops.load_batches"):
        assert f.rows_read == f.rows_loaded + f.rows_rejected, f.source_file
        table = "raw." + f.dataset.replace("/", "__")
        [(in_raw,)] = q(engine, f"select count(*) from {table} where _source_file = :s", s=f.source_file)
        [(in_rejects,)] = q(
            engine, "select count(*) from raw.rejects where source_file = :s", s=f.source_file
        )
        assert (in_raw, in_rejects) == (f.rows_loaded, f.rows_rejected), f.source_file


def rejects(engine) -> list[tuple]:
    return [
        tuple(r)
        for r in q(
            engine, "select row_number, rule, column_name from raw.rejects order by source_file, row_number"
        )
    ]


def test_cr_only_line_endings_load_every_row(landing, engine):
    put(landing, "tax/filings", "f.csv", lines(FILINGS, filing(A), filing(B), end="\r"))
    [r] = ingest()
    assert (r["status"], r["rows_read"], r["rows_loaded"], r["rows_rejected"]) == ("loaded", 2, 2, 0)
    accounted(engine)


def test_crlf_and_a_quoted_cell_spanning_lines_stay_one_row(landing, engine):
    body = lines(TAXPAYERS, taxpayer(A, '"广水市风机\r\n制造有限公司"'), taxpayer(B), end="\r\n")
    put(landing, "tax/taxpayers", "t.csv", body)
    [r] = ingest()
    assert (r["rows_read"], r["rows_loaded"]) == (2, 2)
    names = q(engine, "select _row_number, taxpayer_name from raw.tax__taxpayers order by 1")
    assert names == [(2, "广水市风机\r\n制造有限公司"), (3, "广水市风机制造有限公司")]


def test_the_careful_path_keeps_a_multi_line_cell_whole_next_to_a_bad_row(landing, engine):
    # The NUL forces the row-by-row path, which used to split the quoted cell into two broken rows.
    body = lines(TAXPAYERS, taxpayer(A, '"广水市风机\n制造有限公司"'), taxpayer(B, "坏\x00名"), taxpayer(C))
    put(landing, "tax/taxpayers", "t.csv", body)
    [r] = ingest()
    assert (r["rows_read"], r["rows_loaded"], r["rows_rejected"]) == (3, 2, 1)
    assert q(engine, "select taxpayer_name from raw.tax__taxpayers where uscc = :u", u=A) == [
        ("广水市风机\n制造有限公司",)
    ]
    assert rejects(engine) == [(3, "nul", None)]  # record numbers: the two-line cell is one record
    accounted(engine)


def test_a_nul_byte_rejects_its_row_only(landing, engine):
    put(landing, "tax/filings", "f.csv", lines(FILINGS, filing(A), filing(B) + "\x00", filing(C)))
    [r] = ingest()
    assert (r["status"], r["rows_loaded"], r["rows_rejected"]) == ("loaded", 2, 1)
    [(row, rule, reason, record)] = q(engine, "select row_number, rule, reason, record from raw.rejects")
    assert (row, rule) == (3, "nul") and "NUL" in reason and record.endswith("\\0")
    accounted(engine)


def test_a_field_over_the_csv_module_limit_is_rejected_as_oversize(landing, engine):
    huge = "广" * 200_000  # 400 kB in GB18030: above Python csv's 128 KiB field limit
    put(landing, "tax/taxpayers", "t.csv", lines(TAXPAYERS, taxpayer(A), taxpayer(B, huge)))
    [r] = ingest()
    assert (r["status"], r["rows_loaded"], r["rows_rejected"]) == ("loaded", 1, 1)
    assert rejects(engine) == [(3, "oversize", "taxpayer_name")]
    [(length,)] = q(engine, "select length(raw_value) from raw.rejects")
    assert length == 4000  # the raw value is kept, cut to a bounded size
    accounted(engine)


def test_an_oversize_field_is_caught_on_the_careful_path_too(landing, engine):
    huge = "广" * 200_000
    put(landing, "tax/taxpayers", "t.csv", lines(TAXPAYERS, taxpayer(A, huge), taxpayer(B, "坏\x00")))
    [r] = ingest()
    assert r["rows_rejected"] == 2
    assert rejects(engine) == [(2, "oversize", "taxpayer_name"), (3, "nul", None)]
    accounted(engine)


def test_an_empty_file_is_quarantined_and_a_header_only_file_loads_nothing(landing, engine):
    put(landing, "tax/filings", "empty.csv", b"")
    put(landing, "tax/filings", "header_only.csv", lines(FILINGS))
    by_file = {Path(r["source_file"]).name: r for r in ingest()}
    assert by_file["empty.csv"]["status"] == "quarantined"
    assert by_file["empty.csv"]["reason"].startswith("empty:")
    assert (by_file["header_only.csv"]["status"], by_file["header_only.csv"]["rows_read"]) == ("loaded", 0)
    accounted(engine)


def test_a_file_whose_last_line_lost_its_tail_is_quarantined_not_loaded_short(landing, engine):
    cut = lines(FILINGS, filing(A)) + filing(B, payable="12345.67").encode()[:-4]  # ... 12345.6
    put(landing, "tax/filings", "f.csv", cut)
    [r] = ingest()
    assert (r["status"], r["rows_read"], r["rows_loaded"], r["rows_rejected"]) == ("quarantined", 2, 0, 2)
    assert r["reason"].startswith("truncated:")
    assert q(engine, "select count(*) from raw.tax__filings") == [(0,)]
    assert {rule for (_, rule, _) in rejects(engine)} == {"truncated"}
    accounted(engine)


def test_a_file_ending_inside_a_quoted_cell_is_quarantined(landing, engine):
    body = lines(TAXPAYERS, taxpayer(A)) + taxpayer(B, '"广水市风机').encode("gb18030") + b"\n"
    put(landing, "tax/taxpayers", "t.csv", body)
    [r] = ingest()
    assert r["status"] == "quarantined" and r["reason"].startswith("truncated:")
    accounted(engine)


@pytest.mark.parametrize("filed", ["2099-01-05", "9999-12-31", "1900-01-01", "2026-11-11"])
def test_implausible_or_future_business_dates_are_rejected(landing, engine, filed):
    put(landing, "tax/filings", "f.csv", lines(FILINGS, filing(A), filing(B, filed=filed)))
    [r] = ingest()
    assert (r["rows_loaded"], r["rows_rejected"]) == (1, 1)
    [(row, rule, column, value, reason)] = q(
        engine, "select row_number, rule, column_name, raw_value, reason from raw.rejects"
    )
    assert (row, rule, column, value) == (3, "bounds", "filed_date", filed)
    assert "2026-11-10" in reason  # the bound relative to the drop date is spelled out
    accounted(engine)


def test_a_utf8_row_deep_inside_a_gb18030_file_is_rejected_not_loaded_as_mojibake(landing, engine):
    many = [
        taxpayer(uscc.make(f"91421381MA4F{n:05d}"), f"广水市第{n}风机制造有限公司") for n in range(12_000)
    ]
    body = lines(TAXPAYERS, *many) + (taxpayer(A, "广水市风机制造有限公司") + "\n").encode("utf-8")
    assert len(body) > 1 << 20  # past the first MiB, where the old check stopped looking
    put(landing, "tax/taxpayers", "t.csv", body)
    [r] = ingest()
    assert (r["rows_read"], r["rows_loaded"], r["rows_rejected"]) == (12_001, 12_000, 1)
    [(row, rule, record)] = q(engine, "select row_number, rule, record from raw.rejects")
    assert (row, rule) == (12_002, "encoding") and "广水市风机制造有限公司" in record
    assert q(engine, "select taxpayer_name from raw.tax__taxpayers where _row_number = 2") == [
        ("广水市第0风机制造有限公司",)
    ]
    accounted(engine)


def test_an_undecodable_header_quarantines_the_file(landing, engine):
    put(landing, "tax/filings", "f.csv", b"\x81\x20" + lines(FILINGS, filing(A)))
    [r] = ingest()
    assert r["status"] == "quarantined" and r["reason"].startswith("encoding:")
    accounted(engine)


def test_date_folders_must_be_iso_dates(landing, engine):
    put(landing, "tax/filings", "f.csv", lines(FILINGS, filing(A)), day="20261110")
    assert ingest() == []
    [(path, reason)] = q(engine, "select path, reason from ops.landing_refusals")
    assert path == "tax/filings/20261110" and "YYYY-MM-DD" in reason


def test_symlinks_and_paths_outside_the_landing_zone_are_refused_never_read(landing, engine, tmp_path):
    outside = tmp_path / "etc"
    (outside / DAY).mkdir(parents=True)
    (outside / DAY / "passwd.csv").write_bytes(lines(FILINGS, filing(A)))
    (outside / "loose.csv").write_bytes(lines(FILINGS, filing(B)))
    (landing / "credit").mkdir(parents=True)
    (landing / "credit" / "ratings").symlink_to(outside)  # a dataset folder linked out
    (landing / "tax" / "filings").mkdir(parents=True)
    (landing / "tax" / "filings" / DAY).symlink_to(outside / DAY)  # a date folder linked out
    good = put(landing, "tax/taxpayers", "t.csv", lines(TAXPAYERS, taxpayer(C)))
    (good.parent / "linked.csv").symlink_to(outside / "loose.csv")  # a file linked out
    results = ingest()
    assert [(Path(r["source_file"]).name, r["rows_loaded"]) for r in results] == [("t.csv", 1)]
    refused = dict(q(engine, "select path, reason from ops.landing_refusals"))
    assert set(refused) == {"credit/ratings", f"tax/filings/{DAY}", f"tax/taxpayers/{DAY}/linked.csv"}
    assert all("symlink" in why for why in refused.values())
    assert q(engine, "select count(*) from raw.rejects") == [(0,)]
    archived = [p.name for p in (tmp_path / "archive").rglob("*") if p.is_file()]
    assert len(archived) == 1 and archived[0].endswith("__t.csv")


def test_one_quarantined_file_does_not_stop_the_other_drops(landing, engine):
    put(landing, "tax/filings", "f.csv", lines(FILINGS, filing(A)) + b"cut,off")
    put(landing, "tax/taxpayers", "t.csv", lines(TAXPAYERS, taxpayer(A)))
    put(
        landing,
        "credit/ratings",
        "r.csv",
        b"uscc,evaluation_year,score,credit_level,published_date\n"
        + f"{A},2025,91.5,A,2026-04-01\n".encode(),
    )
    results = {r["dataset"]: r for r in ingest()}
    assert results["tax/filings"]["status"] == "quarantined"
    assert (results["tax/taxpayers"]["rows_loaded"], results["credit/ratings"]["rows_loaded"]) == (1, 1)
    accounted(engine)


def test_an_added_column_is_kept_and_reported(landing, engine):
    put(landing, "tax/filings", "f.csv", lines(FILINGS + ",branch_note", filing(A) + ",备注一"))
    [r] = ingest()
    assert r["status"] == "loaded" and r["drift"] == {"added": ["branch_note"]}
    assert q(engine, "select _extra from raw.tax__filings") == [({"branch_note": "备注一"},)]
    assert q(engine, "select drift from ops.load_batches") == [({"added": ["branch_note"]},)]


def test_a_retyped_required_column_quarantines_the_file(landing, engine):
    rows = [filing(uscc.make(f"91421381MA4F{n:05d}")).replace("2026-10-01", "2026/10/01") for n in range(12)]
    put(landing, "tax/filings", "f.csv", lines(FILINGS, *rows))
    [r] = ingest()
    assert r["status"] == "quarantined" and r["reason"].startswith("schema_drift:")
    assert "period_start" in r["reason"] and r["rows_rejected"] == 12
    accounted(engine)


def test_a_few_bad_values_in_a_required_column_are_row_rejects_not_drift(landing, engine):
    rows = [filing(uscc.make(f"91421381MA4F{n:05d}")) for n in range(12)]
    rows[3] = rows[3].replace("2026-10-01", "2026/10/01")
    put(landing, "tax/filings", "f.csv", lines(FILINGS, *rows))
    [r] = ingest()
    assert (r["status"], r["rows_loaded"], r["rows_rejected"]) == ("loaded", 11, 1)
    assert rejects(engine) == [(5, "date", "period_start")]


def _workbook(path: Path) -> None:
    """A department's spreadsheet as they come: an instructions sheet, a merged title row, a
    two-level header (group cells across columns, labels spanning both rows), Chinese headers, a
    blank spacer row, and a second sheet with its columns in another order."""
    import openpyxl

    wb = openpyxl.Workbook()
    notes = wb.active
    notes.title = "填表说明"
    notes["A1"] = "请按模板填写，勿改表头"
    ws = wb.create_sheet("2026年认定")
    ws["A1"] = "2026年广水市专精特新中小企业认定名单"
    ws.merge_cells("A1:F1")
    for col, label in zip("ABF", ["统一社会信用代码", "企业名称", "有效期至"], strict=True):
        ws[f"{col}2"] = label
        ws.merge_cells(f"{col}2:{col}3")
    ws["C2"] = "认定信息"
    ws.merge_cells("C2:E2")
    for col, label in zip("CDE", ["认定类型", "认定级别（省/国家）", "认定日期"], strict=True):
        ws[f"{col}3"] = label
    ws.append(
        [A, "广水市风机制造有限公司", "specialised_sme", "provincial", date(2026, 3, 1), date(2029, 2, 28)]
    )
    ws.append([])
    ws.append(
        [
            A[:17] + ("0" if A[17] != "0" else "1"),
            "坏码公司",
            "innovative_sme",
            "provincial",
            date(2026, 3, 1),
            None,
        ]
    )
    ws.append([B, "广水市泵阀有限公司", "innovative_sme", "provincial", date(2026, 4, 2), date(2029, 4, 1)])
    older = wb.create_sheet("2025年认定")
    older.append(["企业名称", "统一社会信用代码", "认定日期", "认定类型", "认定级别", "有效期至", "备注"])
    older.append(
        ["广水市铸造有限公司", C, date(2025, 6, 1), "little_giant", "national", date(2028, 5, 31), "复核"]
    )
    wb.save(path)


def test_an_xlsx_with_merged_headers_and_several_sheets_loads_through_the_same_checks(landing, engine):
    folder = landing / "industry/designations" / DAY
    folder.mkdir(parents=True)
    _workbook(folder / "专精特新名单.xlsx")
    [r] = ingest()
    assert (r["status"], r["rows_read"], r["rows_loaded"], r["rows_rejected"]) == ("loaded", 4, 3, 1)
    assert r["drift"] == {"added": ["备注"]}  # the second sheet's extra column is kept, not lost
    got = q(
        engine,
        "select uscc, designation, level, granted_date, expires_date from raw.industry__designations order by uscc",
    )
    assert got == sorted(
        [
            (A, "specialised_sme", "provincial", date(2026, 3, 1), date(2029, 2, 28)),
            (B, "innovative_sme", "provincial", date(2026, 4, 2), date(2029, 4, 1)),
            (C, "little_giant", "national", date(2025, 6, 1), date(2028, 5, 31)),
        ]
    )
    [(rule, column, reason)] = q(engine, "select rule, column_name, reason from raw.rejects")
    assert (rule, column) == ("uscc", "uscc") and reason.startswith("sheet 2026年认定 row 6: ")
    accounted(engine)


def test_an_xlsx_without_the_contract_header_or_not_a_workbook_is_quarantined(landing, engine):
    import openpyxl

    folder = landing / "industry/designations" / DAY
    folder.mkdir(parents=True)
    wb = openpyxl.Workbook()
    wb.active.append(["名称", "日期"])
    wb.save(folder / "wrong.xlsx")
    (folder / "broken.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    by_name = {Path(r["source_file"]).name: r for r in ingest()}
    assert (
        by_name["wrong.xlsx"]["status"] == "quarantined"
        and "no sheet has the columns" in by_name["wrong.xlsx"]["reason"]
    )
    assert by_name["broken.xlsx"]["status"] == "quarantined" and by_name["broken.xlsx"]["reason"].startswith(
        "xlsx:"
    )
    accounted(engine)
