"""Production inherits no secret: settings refuse to start without them, and docker-compose.yml has no
default for any secret and publishes its ports on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from zxt.core.errors import ConfigError
from zxt.core.settings import PROJECT_ROOT, Settings

PRODUCTION = {
    "ZXT_MODE": "production",
    "ZXT_WAREHOUSE_URL": "postgresql://zxt:admin-pw@db.internal:5432/zxt",
    "ZXT_WAREHOUSE_LOADER_URL": "postgresql://zxt_loader_login:l-pw@db.internal:5432/zxt",
    "ZXT_WAREHOUSE_TRANSFORMER_URL": "postgresql://zxt_transformer_login:t-pw@db.internal:5432/zxt",
    "ZXT_WAREHOUSE_DELIVERY_URL": "postgresql://zxt_delivery_login:d%40pw@db.internal:5432/zxt",
    "ZXT_SMS_ENDPOINT": "https://sms.tencentcloudapi.com/",
    "ZXT_SMS_SECRET_ID": "AKIDproduction",
    "ZXT_SMS_SECRET_KEY": "production-key",
    "ZXT_SMS_APP_ID": "1400999999",
}
SECRETS_IN_SETTINGS = [k for k in PRODUCTION if k not in ("ZXT_MODE",)]


@pytest.fixture
def production(monkeypatch):
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)
    for name in ("ZXT_SFTP_PASSWORD_GSRCB",):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("missing", SECRETS_IN_SETTINGS)
def test_production_refuses_to_start_without_each_secret(production, missing):
    production.delenv(missing)
    with pytest.raises(ConfigError, match=missing) as caught:
        Settings()
    assert "production" in str(caught.value)


def test_production_names_every_missing_secret_at_once(monkeypatch):
    for name in SECRETS_IN_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ZXT_MODE", "production")
    with pytest.raises(ConfigError) as caught:
        Settings()
    for name in SECRETS_IN_SETTINGS:
        assert name in str(caught.value)


def test_production_has_no_simulator_secret_and_each_role_its_own_login(production):
    s = Settings()
    assert s.mode == "production"
    assert (s.sms.secret_id, s.sms.secret_key) == ("AKIDproduction", "production-key")
    with pytest.raises(ConfigError, match="ZXT_SFTP_PASSWORD_GSRCB"):
        s.bank.sftp_password("GSRCB")
    production.setenv("ZXT_SFTP_PASSWORD_GSRCB", "bank-pw")
    assert s.bank.sftp_password("GSRCB") == "bank-pw"
    delivery = s.warehouse.pg_as("delivery")
    assert (delivery.user, delivery.password, delivery.role) == ("zxt_delivery_login", "d@pw", "zxt_delivery")
    url = urlsplit(delivery.url)
    assert parse_qs(url.query) == {"options": ["-c role=zxt_delivery"]}
    assert url.password == "d%40pw"  # quoted in the URL, so a password with @ or : still parses
    assert s.warehouse.pg_as("admin").role == "" and s.warehouse.pg_as("admin").user == "zxt"
    assert s.warehouse.dbt_env()["ZXT_PG_ROLE"] == "zxt_transformer"
    assert s.warehouse.dbt_env()["ZXT_PG_USER"] == "zxt_transformer_login"


def test_demo_mode_uses_the_admin_login_with_the_role_and_simulator_secrets(monkeypatch):
    for name in PRODUCTION:
        monkeypatch.delenv(name, raising=False)
    s = Settings()
    assert s.mode == "demo" and s.sms.secret_key == "zxt-local-simulator-secret"
    assert s.bank.sftp_password("GSRCB") == "zxt-gsrcb-local"
    loader = s.warehouse.pg_as("loader")
    assert (loader.user, loader.role) == (s.warehouse.pg.user, "zxt_loader")
    with pytest.raises(ValueError, match="unknown warehouse role 'officer'"):
        s.warehouse.pg_as("officer")  # officers are people with their own logins, never a task


def test_a_simulator_secret_is_never_sent_off_this_machine(monkeypatch):
    for name in PRODUCTION:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ZXT_SMS_ENDPOINT", "https://sms.tencentcloudapi.com/")
    with pytest.raises(ConfigError, match="simulator"):
        Settings()
    monkeypatch.setenv("ZXT_SMS_SECRET_KEY", "a-real-key")
    assert Settings().sms.endpoint == "https://sms.tencentcloudapi.com/"


def test_an_unknown_mode_is_refused(monkeypatch):
    monkeypatch.setenv("ZXT_MODE", "prod")
    with pytest.raises(ConfigError, match="ZXT_MODE='prod'"):
        Settings()


# --- docker-compose.yml -------------------------------------------------------------------------

COMPOSE = PROJECT_ROOT / "docker-compose.yml"
# Interpolations that may have a default: addresses, never credentials.
NOT_SECRET = {"ZXT_BIND_ADDRESS", "ZXT_SMS_ENDPOINT"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|_KEY$", re.IGNORECASE)
INTERPOLATION = re.compile(r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}")


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def environments(doc: dict):
    for name, service in doc["services"].items():
        env = service.get("environment") or {}
        assert isinstance(env, dict), f"{name}: environment must be a mapping"
        yield name, env


def test_compose_has_no_default_for_any_secret():
    found = list(INTERPOLATION.finditer(COMPOSE.read_text(encoding="utf-8")))
    assert found, "the compose file reads its secrets from the environment"
    for m in found:
        if m["name"] not in NOT_SECRET:
            assert m["op"] == ":?", (
                f"${{{m['name']}}} must be required (${{{m['name']}:?message}}), not defaulted"
            )


def required(value: str) -> bool:
    return all(m["op"] == ":?" for m in INTERPOLATION.finditer(value)) and "${" in value


def test_compose_environment_holds_no_literal_secret():
    for service, env in environments(compose()):
        for key, value in env.items():
            value = str(value)
            if SECRET_NAME.search(key) and not key.endswith(("_FILE", "_URL", "_ENDPOINT", "_CONN")):
                assert required(value), f"{service}: {key} must come from a required variable"
            if "://" in value and "@" in value.split("://", 1)[1]:  # a URL with credentials
                userinfo = value.split("://", 1)[1].rsplit("@", 1)[0]
                assert ":" in userinfo and required(userinfo.split(":", 1)[1]), (
                    f"{service}: {key} has a literal password"
                )
    text = COMPOSE.read_text(encoding="utf-8")
    assert "change-me" not in text and "admin:admin" not in text


def test_compose_runs_the_pipeline_in_production_mode():
    doc = compose()
    pipeline = [n for n, svc in doc["services"].items() if "AIRFLOW_HOME" in (svc.get("environment") or {})]
    assert pipeline
    for name in pipeline:
        assert doc["services"][name]["environment"]["ZXT_MODE"] == "production", name


def test_compose_publishes_ports_on_localhost_unless_configured():
    for name, service in compose()["services"].items():
        for port in service.get("ports") or []:
            host = str(port).rsplit(":", 2)[0]
            assert host in ("127.0.0.1", "${ZXT_BIND_ADDRESS:-127.0.0.1}"), f"{name} publishes {port}"


@pytest.mark.parametrize(
    ("configured", "missing"),
    [
        ({"ZXT_WECHAT_ENDPOINT": "https://api.weixin.qq.com"}, "ZXT_WECHAT_APP_SECRET"),
        ({"ZXT_WECHAT_ENDPOINT": "https://api.weixin.qq.com"}, "ZXT_WECHAT_CALLBACK_TOKEN"),
        ({"ZXT_PLATFORM_URL": "https://credit.example.gov.cn/api"}, "ZXT_PLATFORM_CLIENT_SECRET"),
    ],
)
def test_an_optional_counterpart_once_configured_needs_its_secret(production, configured, missing):
    for name in ("ZXT_WECHAT_APP_SECRET", "ZXT_WECHAT_CALLBACK_TOKEN", "ZXT_PLATFORM_CLIENT_SECRET"):
        production.delenv(name, raising=False)
    production.delenv("ZXT_WECHAT_ENDPOINT", raising=False)
    production.delenv("ZXT_PLATFORM_URL", raising=False)
    s = Settings()  # not configured: not required, and no simulator secret stands in
    assert (s.wechat.endpoint, s.wechat.app_secret, s.platform.client_secret) == ("", "", "")
    for name, value in configured.items():
        production.setenv(name, value)
    with pytest.raises(ConfigError, match=missing):
        Settings()
