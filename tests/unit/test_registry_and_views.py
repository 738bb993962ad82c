"""Gate registry from the dbt manifest, generated officers' views, source policy, formula-safe cells."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zxt.bank.referral_file import build_csv, neutralise
from zxt.core import mart_registry
from zxt.core.identifiers import name_is_personal
from zxt.core.settings import PROJECT_ROOT
from zxt.quality import officer_views

MANIFEST = PROJECT_ROOT / "dbt_project" / "target" / "manifest.json"
SUITES = PROJECT_ROOT / "expectations"


@pytest.fixture(scope="module")
def registry() -> mart_registry.Registry:
    if not MANIFEST.exists():
        from zxt.transform import dbt_runner

        dbt_runner.parse()
    return mart_registry.load(manifest=MANIFEST)


def test_the_project_declares_its_gated_marts_without_problems(registry):
    assert {"credit_warning", "bank_referral"} <= set(registry.names)
    assert mart_registry.problems(registry, SUITES) == []
    cw = registry.get("credit_warning")
    assert (cw.suite, cw.partition, cw.officer_view) == ("credit_warning", "as_of_date", True)
    # Lineage through staging and intermediate models down to the landing datasets.
    assert set(cw.datasets) == {"tax/taxpayers", "tax/obligations", "tax/filings", "contact/consents"}
    assert "bank/authorisations" in registry.get("bank_referral").datasets
    assert registry.readers_of("bank/authorisations") == ["bank_referral"]
    assert {c.name: c.officer for c in cw.columns if c.officer != "shown"} == {
        "taxpayer_name": "mask_person_name",
        "contact_name": "mask_name",
        "contact_mobile": "mask_mobile",
    }


def test_every_incremental_mart_replaces_its_partition():
    """A partitioned mart rebuilt to zero rows must lose its old rows (delete+insert kept them)."""
    doc = json.loads(MANIFEST.read_text(encoding="utf-8"))
    marts = [n for n in doc["nodes"].values() if n["resource_type"] == "model" and n["schema"] == "marts"]
    incremental = [n for n in marts if n["config"]["materialized"] == "incremental"]
    assert incremental
    for node in incremental:
        assert node["config"]["incremental_strategy"] == "replace_partition", node["name"]
        assert node["config"]["unique_key"] == "as_of_date", node["name"]


def _manifest(tmp_path: Path, **config) -> Path:
    node = {
        "unique_id": "model.zxt.m",
        "resource_type": "model",
        "name": "m",
        "schema": "marts",
        "original_file_path": "models/marts/m.yml",
        "description": "a mart",
        "config": {
            "materialized": "table",
            "meta": {"gate": {"suite": "missing_suite", "partition": "d"}},
            **config,
        },
        "columns": {
            "d": {"name": "d", "meta": {}},
            "phone": {"name": "phone", "config": {"meta": {"officer": "mask_mobile"}}},
        },
    }
    doc = {
        "nodes": {
            "model.zxt.m": node,
            "model.zxt.stg": {
                "unique_id": "model.zxt.stg",
                "resource_type": "model",
                "name": "stg",
                "config": {},
            },
        },
        "sources": {"source.zxt.raw.tax__filings": {"source_name": "raw", "name": "tax__filings"}},
        "parent_map": {"model.zxt.m": ["model.zxt.stg"], "model.zxt.stg": ["source.zxt.raw.tax__filings"]},
    }
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(doc))
    return path


def test_a_malformed_declaration_is_reported(tmp_path):
    reg = mart_registry.load(manifest=_manifest(tmp_path))
    [m] = reg.marts
    assert m.datasets == ("tax/filings",)
    assert m.column("phone").officer == "mask_mobile"  # dbt 1.10+ keeps column meta under config
    found = " | ".join(mart_registry.problems(reg, SUITES))
    assert "missing_suite.json does not exist" in found
    assert "must be incremental with incremental_strategy='replace_partition'" in found

    bad = _manifest(tmp_path, meta={"gate": {"suite": "s", "partition": "d"}})
    doc = json.loads(bad.read_text())
    doc["nodes"]["model.zxt.m"]["columns"]["phone"]["config"]["meta"]["officer"] = "blur"
    bad.write_text(json.dumps(doc))
    with pytest.raises(mart_registry.RegistryError, match="officer: 'blur'"):
        mart_registry.load(manifest=bad)
    with pytest.raises(mart_registry.RegistryError, match="zxt dbt parse"):
        mart_registry.load(manifest=tmp_path / "absent.json")


def test_generated_view_masks_per_column_and_takes_a_row_filter(registry):
    cw = registry.get("credit_warning")
    columns = [
        "as_of_date",
        "uscc",
        "taxpayer_name",
        "entity_type",
        "branch_code",
        "contact_name",
        "contact_mobile",
    ]
    sql = officer_views.view_sql(cw, columns, row_filter="w.branch_code = 'B01'")
    assert sql.startswith(
        "create or replace view marts.credit_warning_current with (security_barrier = true)"
    )
    assert 'zxt.mask_person_name(w."taxpayer_name", w."entity_type", w."uscc") as "taxpayer_name"' in sql
    assert 'zxt.mask_name(w."contact_name") as "contact_name"' in sql
    assert 'zxt.mask_mobile(w."contact_mobile") as "contact_mobile"' in sql
    assert "where p.mart = 'credit_warning')" in sql and "and (w.branch_code = 'B01')" in sql
    hidden = mart_registry.GatedMart(
        "m", "marts", "s", "d", columns=(mart_registry.MartColumn("secret", officer="hidden"),)
    )
    assert "secret" not in officer_views.view_sql(hidden, ["d", "secret"])


@pytest.mark.parametrize(
    ("entity_type", "uscc", "personal"),
    [
        ("individual_business", "92421381MA4ABCDE1X", True),
        ("sole_proprietorship", "91421381MA4ABCDE1X", True),
        ("company", "91421381MA4ABCDE1X", False),
        (None, "92421381MA4ABCDE1X", True),  # 个体工商户 by its code alone
        (None, "91421381MA4ABCDE1X", False),
        (None, None, True),  # nothing known: treat as a person's name
    ],
)
def test_which_taxpayer_names_are_personal(entity_type, uscc, personal):
    assert name_is_personal(entity_type, uscc) is personal


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ('=HYPERLINK("http://x","点我")', '\'=HYPERLINK("http://x","点我")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("  =1+1", "'  =1+1"),
        ("\t=1", "'\t=1"),
        ("＝1+1", "'＝1+1"),
        ("-12.50", "-12.50"),  # a number stays a number
        ("广水市某某有限公司", "广水市某某有限公司"),
        ("", ""),
    ],
)
def test_formula_injection_is_neutralised(cell, safe):
    assert neutralise(cell) == safe


def test_every_cell_of_the_bank_csv_is_neutralised():
    row = {
        "uscc": "91421381MA4ABCDE1X",
        "taxpayer_name": "=1+1",
        "credit_level": "A",
        "evaluation_year": 2025,
        "years_in_business": 3,
        "tax_paid_12m": -5,
        "authorisation_id": "@A1",
    }
    lines = build_csv([row]).decode().splitlines()
    assert lines[1] == "91421381MA4ABCDE1X,'=1+1,A,2025,3,-5,'@A1"
