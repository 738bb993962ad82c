"""Settings: ZXT_WAREHOUSE_URL parsing, sections and overrides."""

from __future__ import annotations

import pytest

from zxt.core.settings import Settings


def test_warehouse_url_is_parsed_with_escapes_and_default_port(monkeypatch):
    monkeypatch.setenv("ZXT_WAREHOUSE_URL", "postgresql://zxt%40bureau:p%40ss%3Aword@db.internal/zxt_prod")
    pg = Settings().warehouse.pg
    assert (pg.host, pg.port, pg.user, pg.password, pg.dbname) == (
        "db.internal",
        5432,
        "zxt@bureau",
        "p@ss:word",
        "zxt_prod",
    )
    assert not Settings().warehouse.embedded
    env = Settings().warehouse.dbt_env()
    assert env["ZXT_PG_PASSWORD"] == "p@ss:word" and env["ZXT_PG_PORT"] == "5432"


def test_warehouse_url_with_driver_and_port(monkeypatch):
    monkeypatch.setenv("ZXT_WAREHOUSE_URL", "postgresql+psycopg://u:p@10.0.0.5:6543/dw")
    pg = Settings().warehouse.pg
    assert (pg.host, pg.port, pg.dbname) == ("10.0.0.5", 6543, "dw")
    assert pg.url == "postgresql+psycopg://u:p@10.0.0.5:6543/dw"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://u:p@host:5432/", "names no database"),
        ("postgresql://u:p@host:5432", "names no database"),
        ("mysql://u:p@host/db", "must look like"),
        ("not a url", "must look like"),
    ],
)
def test_bad_warehouse_urls_say_what_is_wrong(monkeypatch, url, message):
    monkeypatch.setenv("ZXT_WAREHOUSE_URL", url)
    with pytest.raises(ValueError, match=message):
        _ = Settings().warehouse.pg


def test_embedded_by_default(monkeypatch):
    monkeypatch.delenv("ZXT_WAREHOUSE_URL", raising=False)
    monkeypatch.setenv("ZXT_EMBEDDED_PG_PORT", "54999")
    s = Settings()
    assert s.warehouse.embedded and s.warehouse.pg.port == 54999 and s.warehouse.pg.host == "127.0.0.1"


def test_bad_numbers_name_the_variable(monkeypatch):
    monkeypatch.setenv("ZXT_SMS_TIMEOUT_S", "ten")
    with pytest.raises(ValueError, match="ZXT_SMS_TIMEOUT_S"):
        Settings()


def test_with_changes_one_section_and_rejects_unknown_names(tmp_path):
    base = Settings()
    changed = base.with_(paths__home=tmp_path, sms__timeout_s=1.5)
    assert changed.paths.landing == tmp_path / "landing" and changed.sms.timeout_s == 1.5
    assert changed.bank == base.bank and changed.warehouse == base.warehouse
    assert base.paths.home != tmp_path  # the original is unchanged (frozen sections)
    with pytest.raises(TypeError, match="section"):
        base.with_(timeout_s=1)
    with pytest.raises(TypeError):
        base.with_(sms__nonsense=1)
