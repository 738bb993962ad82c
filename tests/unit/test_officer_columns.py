"""What officers see of each column of each mart with an officers' view: a decision per column,
recorded here, so a column added to a mart without one fails this test (and a personal-looking one
fails the registry's own check)."""

from __future__ import annotations

import json

import pytest

from zxt.core import mart_registry
from zxt.core.settings import get_settings

# Officers work enterprise by enterprise: codes, dates, amounts, levels and a company's name are what
# they act on. A person's data is masked: contacts always; a taxpayer's name when the taxpayer is an
# individual business or sole proprietorship (个体工商户/个人独资企业: named after the operator).
MASKED = {
    "credit_warning": {
        "taxpayer_name": "mask_person_name",
        "contact_name": "mask_name",
        "contact_mobile": "mask_mobile",
    },
    "bank_referral": {"taxpayer_name": "mask_person_name"},
    # The credit engine's marts: scores, levels, causes and repair steps are the officers' work.
    "credit_outlook": {"taxpayer_name": "mask_person_name"},
    "downgrade_watchlist": {"taxpayer_name": "mask_person_name"},
    "repair_opportunity": {"taxpayer_name": "mask_person_name"},
}


@pytest.fixture(scope="module")
def registry():
    return mart_registry.load(get_settings())


@pytest.mark.parametrize("mart", sorted(MASKED))
def test_each_column_has_the_decided_policy(registry, mart):
    m = registry.get(mart)
    assert m.officer_view
    policies = {c.name: c.officer for c in m.columns}
    assert {c: p for c, p in policies.items() if p != "shown"} == MASKED[mart]
    # The columns the masks and the branch filter depend on are there and shown.
    for needed in ("entity_type", "uscc", "branch_code"):
        assert policies.get(needed) == "shown", f"{mart}.{needed}"


def test_every_officer_view_mart_is_decided_here(registry):
    assert {m.name for m in registry if m.officer_view} == set(MASKED)


def _one_mart(tmp_path, columns: dict) -> mart_registry.Registry:
    node = {
        "unique_id": "model.zxt.m",
        "resource_type": "model",
        "name": "m",
        "schema": "marts",
        "config": {
            "materialized": "incremental",
            "incremental_strategy": "replace_partition",
            "unique_key": "d",
            "meta": {"gate": {"suite": "credit_warning", "partition": "d"}, "officer_view": True},
        },
        "columns": {"d": {"name": "d"}, "branch_code": {"name": "branch_code"}, **columns},
    }
    doc = {
        "nodes": {"model.zxt.m": node},
        "sources": {"source.zxt.raw.tax__filings": {"source_name": "raw", "name": "tax__filings"}},
        "parent_map": {"model.zxt.m": ["source.zxt.raw.tax__filings"]},
    }
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(doc))
    return mart_registry.load(manifest=path)


@pytest.mark.parametrize(
    "column", ["legal_rep_name", "owner_mobile", "contact_phone", "wechat_openid", "id_card_no"]
)
def test_a_new_personal_column_needs_a_decision(tmp_path, column):
    suites = get_settings().paths.expectations_dir
    undecided = _one_mart(tmp_path, {column: {"name": column}})
    assert any(
        f"column {column} looks like personal data" in p for p in mart_registry.problems(undecided, suites)
    )
    decided = _one_mart(tmp_path, {column: {"name": column, "config": {"meta": {"officer": "hidden"}}}})
    assert mart_registry.problems(decided, suites) == []
    shown = _one_mart(tmp_path, {column: {"name": column, "meta": {"officer": "shown"}}})
    assert mart_registry.problems(shown, suites) == []  # an explicit "shown" is a decision too


def test_an_officer_view_mart_without_branch_code_is_reported(tmp_path):
    reg = _one_mart(tmp_path, {})
    doc = json.loads(reg.manifest.read_text())
    del doc["nodes"]["model.zxt.m"]["columns"]["branch_code"]
    reg.manifest.write_text(json.dumps(doc))
    found = mart_registry.problems(
        mart_registry.load(manifest=reg.manifest), get_settings().paths.expectations_dir
    )
    assert any("no branch_code" in p for p in found)
