"""The synthetic county landing zone honours the landing contract and is deterministic."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import tracemalloc
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest

from zxt.core import identifiers as uscc
from zxt.ingest import contracts
from zxt_sandbox import synth

START, END = date(2026, 11, 10), date(2026, 11, 12)
DAYS = [START + timedelta(days=i) for i in range((END - START).days + 1)]
SMALL = 200
NUMERIC = re.compile(r"^-?\d+(\.\d+)?$")


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, synth.SynthSummary]:
    out = tmp_path_factory.mktemp("county")
    return out, synth.generate(out, START, END, enterprises=SMALL, seed=7)


@pytest.fixture(scope="module")
def county2k(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """2,000 enterprises, generated under tracemalloc: (landing dir, peak traced bytes)."""
    out = tmp_path_factory.mktemp("county2k")
    tracemalloc.start()
    try:
        synth.generate(out, START, START + timedelta(days=1), enterprises=2000, seed=11)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return out, peak


def rows(path: Path, encoding: str) -> list[dict[str, str]]:
    with path.open(encoding=encoding, newline="") as fh:
        return list(csv.DictReader(fh))


def written_encoding(ds: contracts.Dataset) -> str:
    """External departments' data is generated as the platform serves it: UTF-8 (contract: auto)."""
    return "utf-8" if ds.encoding == "auto" else ds.encoding


def read(out: Path, dataset: str, day: date) -> list[dict[str, str]]:
    return rows(synth.drop_file(out, dataset, day), written_encoding(contracts.get(dataset)))


def digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*.csv")}


def test_every_drop_has_every_dataset_at_its_contract_path(small: tuple[Path, synth.SynthSummary]) -> None:
    out, summary = small
    expected = {synth.drop_file(out, name, day) for name in contracts.load_contracts() for day in DAYS}
    assert set(out.rglob("*.csv")) == expected
    example = out / "tax" / "filings" / "2026-11-11" / "filings_20261111.csv"
    assert example in expected
    assert summary.drops == 3 and summary.enterprises == SMALL
    for name, count in summary.datasets.items():
        assert count.files == 3
        assert count.rows == sum(len(read(out, name, day)) for day in DAYS)


def test_headers_encodings_and_cell_types_follow_the_contract(small: tuple[Path, synth.SynthSummary]) -> None:
    out, _ = small
    for name, ds in contracts.load_contracts().items():
        for day in DAYS:
            raw = synth.drop_file(out, name, day).read_bytes()
            text = raw.decode(written_encoding(ds))  # strict: raises if not in the contract encoding
            assert "\r" not in text and text.endswith("\n")
            reader = csv.reader(io.StringIO(text))
            assert next(reader) == ds.column_names
            for row in reader:
                assert len(row) == len(ds.columns), (name, row)
                for col, value in zip(ds.columns, row, strict=True):
                    assert "\n" not in value
                    if value == "":
                        assert not col.required, (name, col.name, row)
                        continue
                    _assert_type(col, value, (name, row))
    # GB18030 really matters: taxpayer names are Chinese and not representable in ASCII.
    names = [r["taxpayer_name"] for r in read(out, "tax/taxpayers", END)]
    assert all(n.startswith("广水市") or n.startswith("湖北") for n in names)


def _assert_type(col: contracts.Column, value: str, where: object) -> None:
    if col.type == "date":
        assert date.fromisoformat(value).isoformat() == value, where
    elif col.type == "int":
        assert value.isdigit(), where
    elif col.type == "numeric":
        assert NUMERIC.match(value), where
    elif col.type == "bool":
        assert value in ("0", "1"), where
    elif col.type == "uscc":
        assert uscc.is_valid(value), where
    elif col.type == "mobile":
        assert uscc.is_mobile(value), where
    elif col.type == "enum":
        assert value in col.values, where


def test_usccs_are_guangshui_codes_and_unique(small: tuple[Path, synth.SynthSummary]) -> None:
    out, _ = small
    for day in DAYS:
        codes = [r["uscc"] for r in read(out, "tax/taxpayers", day)]
        assert len(codes) == len(set(codes)) > SMALL * 0.9
        assert all(uscc.is_valid(c) and c[2:8] == "421381" for c in codes)
        assert Counter(c[0] for c in codes).most_common(1)[0][0] == "9"
    registry = {r["uscc"] for r in read(out, "tax/taxpayers", END)}
    for name in (
        "tax/obligations",
        "tax/filings",
        "credit/ratings",
        "bank/authorisations",
        "contact/consents",
    ):
        for day in DAYS:
            assert {r["uscc"] for r in read(out, name, day)} <= registry, name


def test_mobiles_valid_some_shared_some_missing(tmp_path: Path) -> None:
    synth.generate(tmp_path, START, START, enterprises=1000, seed=3)
    taxpayers = read(tmp_path, "tax/taxpayers", START)
    mobiles = [r["contact_mobile"] for r in taxpayers]
    assert all(uscc.is_mobile(m) for m in mobiles if m)
    assert 0.02 < mobiles.count("") / len(mobiles) < 0.09
    shared = [m for m, n in Counter(m for m in mobiles if m).items() if n > 1]
    assert shared, "a few accountants' mobiles serve several enterprises"


def test_same_arguments_give_byte_identical_files(
    tmp_path: Path, small: tuple[Path, synth.SynthSummary]
) -> None:
    out, _ = small
    synth.generate(tmp_path, START, END, enterprises=SMALL, seed=7)
    assert digests(tmp_path) == digests(out)
    other = tmp_path / "other-seed"
    synth.generate(other, START, END, enterprises=SMALL, seed=8)
    assert digests(other) != digests(out)


def test_a_longer_run_reproduces_a_shorter_one_and_passes_do_not_matter(
    tmp_path: Path, small: tuple[Path, synth.SynthSummary], monkeypatch: pytest.MonkeyPatch
) -> None:
    out, _ = small
    shorter = tmp_path / "shorter"
    synth.generate(shorter, START, START + timedelta(days=1), enterprises=SMALL, seed=7)
    full = digests(out)
    assert all(full[k] == v for k, v in digests(shorter).items())
    from zxt_sandbox.synth import writer

    monkeypatch.setattr(writer, "MAX_DROPS_PER_PASS", 2)  # forces two passes over the county
    seen: list[int] = []
    chunked = tmp_path / "chunked"
    summary = synth.generate(chunked, START, END, enterprises=SMALL, seed=7, progress=seen.append)
    assert summary.passes == 2 and digests(chunked) == full
    assert seen == sorted(seen) and seen[-1] == SMALL * 2


def test_delta_drops(small: tuple[Path, synth.SynthSummary]) -> None:
    out, _ = small
    history_from = date(2023, 11, 10)
    first = read(out, "tax/filings", START)
    filed = [date.fromisoformat(r["filed_date"]) for r in first]
    assert min(filed) >= history_from and max(filed) <= START
    assert min(filed) < date(2024, 1, 1)  # the whole three-year history
    keys = [(r["uscc"], r["tax_type"], r["period_start"]) for r in first]
    for day in DAYS[1:]:
        later = read(out, "tax/filings", day)
        assert all(r["filed_date"] == day.isoformat() for r in later)
        assert all(date.fromisoformat(r["period_end"]) < day for r in later)
        keys += [(r["uscc"], r["tax_type"], r["period_start"]) for r in later]
        consents = read(out, "contact/consents", day)
        assert all(r["event_date"] == day.isoformat() for r in consents)
    assert len(keys) == len(set(keys)), "a return appears in exactly one drop"
    consents = read(out, "contact/consents", START)
    assert all(date.fromisoformat(r["event_date"]) <= START for r in consents)
    kinds = Counter(r["event_type"] for r in consents)
    assert kinds["opt_in"] > SMALL * 0.6 and kinds["opt_out"] < kinds["opt_in"] * 0.1
    ids = [r["event_id"] for day in DAYS for r in read(out, "contact/consents", day)]
    assert len(ids) == len(set(ids))


def test_snapshots_show_state_as_known_on_the_day(small: tuple[Path, synth.SynthSummary]) -> None:
    out, _ = small
    for day in DAYS:
        iso = day.isoformat()
        for r in read(out, "tax/taxpayers", day):
            assert r["registered_date"] <= iso and r["first_declaration_date"] <= iso
        assert all(r["published_date"] <= iso for r in read(out, "credit/ratings", day))
        for r in read(out, "bank/authorisations", day):
            assert r["authorised_date"] <= iso and r["revoked_date"] <= iso
            assert r["authorisation_id"] == f"AUTH-{r['uscc']}-{r['bank_code']}-" + r["authorisation_id"][-1]
        snapshot_keys = {
            "tax/obligations": ("uscc", "tax_type", "valid_from"),
            "credit/ratings": ("uscc", "evaluation_year"),
        }
        for name, key in snapshot_keys.items():
            found = [tuple(r[k] for k in key) for r in read(out, name, day)]
            assert len(found) == len(set(found)), name


def test_filings_include_on_time_returns_inside_holiday_extensions(
    small: tuple[Path, synth.SynthSummary],
) -> None:
    out, _ = small
    filings = read(out, "tax/filings", START)
    extended = [
        r
        for r in filings
        if "2026-01-16" <= r["filed_date"] <= "2026-01-20" or "2025-10-16" <= r["filed_date"] <= "2025-10-27"
    ]
    assert extended, "returns filed after the 15th but within an extended deadline"
    on_deadline = [r for r in filings if r["filed_date"] in ("2026-01-20", "2025-10-27", "2026-02-24")]
    assert on_deadline
    # Inside the November filing period part of the county has still to file October's return.
    monthly = {r["uscc"] for r in read(out, "tax/obligations", START) if r["period_type"] == "month"}
    filed_oct = {r["uscc"] for r in filings if r["period_start"] == "2026-10-01" and r["uscc"] in monthly}
    assert 0 < len(filed_oct) < len(monthly)


def test_deadline_calendar_comes_from_the_seed() -> None:
    assert synth.filing_deadline(2026, 1) == date(2026, 1, 20)
    assert synth.filing_deadline(2025, 10) == date(2025, 10, 27)
    assert synth.filing_deadline(2023, 5) == date(2023, 5, 15)  # outside the seed: the statutory 15th


def test_level_mix_is_roughly_the_national_prior(county2k: tuple[Path, int]) -> None:
    out, _ = county2k
    ratings = [r for r in read(out, "credit/ratings", START) if r["evaluation_year"] == "2025"]
    assert len(ratings) > 1500
    share = {k: n / len(ratings) for k, n in Counter(r["credit_level"] for r in ratings).items()}
    bounds = {"A": (0.04, 0.13), "B": (0.50, 0.70), "M": (0.15, 0.30), "C": (0.02, 0.08), "D": (0.03, 0.10)}
    for level, (lo, hi) in bounds.items():
        assert lo <= share.get(level, 0) <= hi, (level, share)
    limits = {"A": (90, 100), "B": (70, 90), "M": (70, 100), "C": (40, 70), "D": (0, 40)}
    for r in ratings:
        lo, hi = limits[r["credit_level"]]
        assert lo <= float(r["score"]) <= hi and (float(r["score"]) < hi or hi == 100), r
    taxpayers = read(out, "tax/taxpayers", START)
    general = sum(r["vat_taxpayer_type"] == "general" for r in taxpayers) / len(taxpayers)
    assert 0.2 < general < 0.4
    auth = read(out, "bank/authorisations", START)
    assert 0.08 < len({r["uscc"] for r in auth if r["bank_code"] == "GSRCB"}) / len(taxpayers) < 0.16


def test_memory_stays_flat(county2k: tuple[Path, int], tmp_path: Path) -> None:
    _, peak_2k = county2k
    tracemalloc.start()
    try:
        synth.generate(tmp_path, START, START + timedelta(days=1), enterprises=200, seed=11)
        _, peak_200 = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Streaming: ten times the enterprises must not mean ten times the memory.
    assert peak_2k < 8 * 1024 * 1024, peak_2k
    assert peak_2k < peak_200 * 2, (peak_200, peak_2k)


def test_bad_rows_are_where_the_docstring_says(tmp_path: Path) -> None:
    summary = synth.generate(tmp_path, START, END, enterprises=50, seed=5, inject_bad_rows=True)
    stamp = "20261112"
    bad_taxpayers = synth.drop_file(tmp_path, "tax/taxpayers", END, "_bad")
    utf8_filings = synth.drop_file(tmp_path, "tax/filings", END, "_utf8")
    no_channel = synth.drop_file(tmp_path, "contact/consents", END, "_no_channel")
    assert summary.bad_files == [bad_taxpayers, utf8_filings, no_channel]
    assert bad_taxpayers.name == f"taxpayers_{stamp}_bad.csv"

    taxpayers = rows(bad_taxpayers, "gb18030")
    assert [uscc.is_valid(r["uscc"]) for r in taxpayers] == [False, False, True]
    assert [uscc.is_mobile(r["contact_mobile"]) for r in taxpayers] == [True, True, False]
    real = {r["uscc"][:17] for r in read(tmp_path, "tax/taxpayers", END)}
    assert not real & {r["uscc"][:17] for r in taxpayers}

    raw = utf8_filings.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("gb18030")
    filings = rows(utf8_filings, "utf-8")
    assert [r["tax_payable"] for r in filings] == ["35.00", "€35.00", "12.50"]
    assert {r["tax_type"] for r in filings} == {"STAMP"}

    header = no_channel.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert "channel" not in header and len(header) == len(contracts.get("contact/consents").columns) - 1
    assert len(rows(no_channel, "utf-8")) == 2
    # The regular files of the last drop stay valid.
    assert all(uscc.is_valid(r["uscc"]) for r in read(tmp_path, "tax/taxpayers", END))
