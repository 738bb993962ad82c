"""All configuration in one typed place, read from ``ZXT_*`` environment variables, in sections.

``settings.paths`` (files), ``.warehouse``, ``.clock`` (the bureau's clock), ``.pipeline`` (nightly
run), ``.quality`` (gates), ``.sms``, ``.wechat``, ``.feedback`` (receipts, replies), ``.delivery`` (send
rules) and ``.bank`` (SFTP drops), ``.airflow`` (the local Airflow of ``zxt airflow up``) and ``.alerts``
(failure alerts). Importing this module does
no I/O, so DAG files may import it at parse time.

``ZXT_MODE`` is ``demo`` (the default of a checkout), ``test`` or ``production`` (what the image and
docker-compose.yml set). Secrets have defaults — the loopback simulators' — only in demo and test
mode; in production every secret must come from the environment (an env file or a secrets store), and
``Settings()`` refuses to start without them, naming each one missing.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from zxt.core.clock import BUREAU_TZ, Clock
from zxt.core.errors import ConfigError

__all__ = [
    "BUREAU_TZ",
    "MODES",
    "PROJECT_ROOT",
    "TASK_ROLES",
    "PgParams",
    "Settings",
    "get_settings",
    "reset_settings",
]

PROJECT_ROOT = Path(__file__).resolve().parents[3]
MODES = ("demo", "test", "production")
# Warehouse roles a task or command connects as (zxt.warehouse.roles creates them as zxt_<role>):
# admin is the login in ZXT_WAREHOUSE_URL (migrations, operators' reports); the others are the
# pipeline's least-privilege roles. Officers are people with their own logins, never a task.
TASK_ROLES = ("admin", "loader", "transformer", "delivery")
ROLE_PREFIX = "zxt_"


def mode() -> str:
    value = os.environ.get("ZXT_MODE", "") or "demo"
    if value not in MODES:
        raise ConfigError(f"ZXT_MODE={value!r}: use one of {', '.join(MODES)}")
    return value


def _secret(name: str, demo_default: str) -> str:
    """A secret: from the environment; the simulators' value only in demo and test mode (production
    leaves it empty and ``Settings`` refuses to start)."""
    value = os.environ.get(name, "")
    if value:
        return value
    return "" if mode() == "production" else demo_default


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "")
    return value if value != "" else default


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r} is not a whole number") from exc


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        return float(raw) if raw else default
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r} is not a number") from exc


def _opt_path(name: str) -> Path | None:
    raw = os.environ.get(name, "")
    return Path(raw) if raw else None


@dataclass(frozen=True)
class Paths:
    home: Path = field(default_factory=lambda: Path(_env("ZXT_HOME", str(PROJECT_ROOT / ".zxt"))))
    landing_dir: Path | None = field(default_factory=lambda: _opt_path("ZXT_LANDING_DIR"))
    archive_dir: Path | None = field(default_factory=lambda: _opt_path("ZXT_ARCHIVE_DIR"))
    known_hosts_file: Path | None = field(default_factory=lambda: _opt_path("ZXT_SFTP_KNOWN_HOSTS"))
    gnupg_dir: Path | None = field(default_factory=lambda: _opt_path("ZXT_GNUPG_HOME"))

    @property
    def landing(self) -> Path:
        return self.landing_dir or self.home / "landing"

    @property
    def archive(self) -> Path:
        return self.archive_dir or self.home / "archive"

    @property
    def pg_dir(self) -> Path:
        return self.home / "pg"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def sftp_dir(self) -> Path:
        return self.home / "sftp"

    @property
    def known_hosts(self) -> Path:
        """Pinned SSH host keys of the banks' SFTP servers."""
        return self.known_hosts_file or self.sftp_dir / "known_hosts"

    @property
    def gnupg(self) -> Path:
        return self.gnupg_dir or self.home / "gnupg"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def dbt_project_dir(self) -> Path:
        return PROJECT_ROOT / "dbt_project"

    @property
    def dbt_manifest(self) -> Path:
        """Written by ``zxt dbt parse`` (and ``make install``); the gate registry is read from it."""
        return self.dbt_project_dir / "target" / "manifest.json"

    @property
    def expectations_dir(self) -> Path:
        """GX suites of the mart gates and the source gate's policy (sources.yml)."""
        return PROJECT_ROOT / "expectations"


@dataclass(frozen=True)
class PgParams:
    host: str
    port: int
    user: str
    password: str
    dbname: str
    # Database role the session runs as (libpq ``options=-c role=…``, set at connection start, so a
    # pooled connection cannot drift back to the login's own rights). Empty: the login itself.
    role: str = ""

    @property
    def url(self) -> str:
        user, password = quote(self.user, safe=""), quote(self.password, safe="")
        base = f"postgresql+psycopg://{user}:{password}@{self.host}:{self.port}/{self.dbname}"
        return f"{base}?options={quote(f'-c role={self.role}', safe='')}" if self.role else base

    @property
    def libpq(self) -> str:
        options = f" options='-c role={self.role}'" if self.role else ""
        return (
            f"host={self.host} port={self.port} user={self.user} password={self.password} dbname={self.dbname}"
            + options
        )


@dataclass(frozen=True)
class WarehouseSettings:
    # Empty means: use the embedded PostgreSQL under <home>/pg, started on demand.
    url: str = field(default_factory=lambda: _env("ZXT_WAREHOUSE_URL", ""))
    embedded_port: int = field(default_factory=lambda: _env_int("ZXT_EMBEDDED_PG_PORT", 54329))

    @property
    def embedded(self) -> bool:
        return not self.url

    @property
    def pg(self) -> PgParams:
        """The admin login: migrations, roles, operators' reports."""
        if self.embedded:
            # The embedded server listens on 127.0.0.1 only; its superuser's password is not a secret.
            return PgParams("127.0.0.1", self.embedded_port, "zxt", "zxt", "zxt")
        return _parse_url("ZXT_WAREHOUSE_URL", self.url)

    def role_url_variable(self, role: str) -> str:
        return f"ZXT_WAREHOUSE_{role.upper()}_URL"

    def pg_as(self, role: str) -> PgParams:
        """Connection of a task role (``TASK_ROLES``). Its own login when ``ZXT_WAREHOUSE_<ROLE>_URL``
        is set (production); otherwise the admin login. Either way the session runs as the group
        role ``zxt_<role>``, so what it creates is owned (and granted) the same way."""
        if role not in TASK_ROLES:
            raise ValueError(f"unknown warehouse role {role!r}: use one of {', '.join(TASK_ROLES)}")
        if role == "admin":
            return self.pg
        variable = self.role_url_variable(role)
        own = os.environ.get(variable, "")
        params = _parse_url(variable, own) if own else self.pg
        return dataclasses.replace(params, role=ROLE_PREFIX + role)

    def dbt_env(self, role: str = "transformer") -> dict[str, str]:
        """Environment variables read by dbt_project/profiles.yml (dbt runs as the transformer)."""
        pg = self.pg_as(role)
        return {
            "ZXT_PG_HOST": pg.host,
            "ZXT_PG_PORT": str(pg.port),
            "ZXT_PG_USER": pg.user,
            "ZXT_PG_PASSWORD": pg.password,
            "ZXT_PG_DBNAME": pg.dbname,
            "ZXT_PG_ROLE": pg.role,
        }


def _parse_url(variable: str, url: str) -> PgParams:
    parts = urlsplit(url)
    if parts.scheme.split("+")[0] not in ("postgresql", "postgres") or not parts.hostname:
        raise ValueError(f"{variable} must look like postgresql://user:password@host:port/dbname")
    if not parts.path.strip("/"):
        raise ValueError(f"{variable} names no database: postgresql://user:password@host:port/dbname")
    return PgParams(
        host=parts.hostname,
        port=parts.port or 5432,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or ""),
        dbname=unquote(parts.path.strip("/")),
    )


@dataclass(frozen=True)
class PipelineSettings:
    # The nightly run looks for new or changed drops this many days back (older ones: `zxt ingest`).
    ingest_lookback_days: int = field(default_factory=lambda: _env_int("ZXT_INGEST_LOOKBACK_DAYS", 14))
    # Delay between Airflow task retries.
    retry_delay_s: int = field(default_factory=lambda: _env_int("ZXT_RETRY_DELAY_S", 300))
    # Reminders for returns due within this many days (dbt var warning_horizon_days).
    warning_horizon_days: int = field(default_factory=lambda: _env_int("ZXT_WARNING_HORIZON_DAYS", 7))
    # Overdue returns older than this get no SMS: officers follow them up instead.
    reminder_max_days_late: int = field(default_factory=lambda: _env_int("ZXT_REMINDER_MAX_DAYS_LATE", 90))


@dataclass(frozen=True)
class QualitySettings:
    """Gates. The mart gate's row-count band comes from the mart's own published history (the median
    of its last ``row_history`` published partitions × [low, high]), never from the data it judges.
    Defaults calibrated on the synthetic county (docs/benchmarks.md): the week before a quarterly
    deadline triples the warnings (the ceiling is a warning), the day after drops them to 0.6."""

    row_history: int = field(default_factory=lambda: _env_int("ZXT_GATE_ROW_HISTORY", 3))
    # With fewer published partitions than this the band is not applied (recorded as such).
    row_min_history: int = field(default_factory=lambda: _env_int("ZXT_GATE_ROW_MIN_HISTORY", 3))
    row_band_low: float = field(default_factory=lambda: _env_float("ZXT_GATE_ROW_BAND_LOW", 0.5))
    row_band_high: float = field(default_factory=lambda: _env_float("ZXT_GATE_ROW_BAND_HIGH", 4.0))


SIMULATOR_SMS_SECRET_KEY = "zxt-local-simulator-secret"


@dataclass(frozen=True)
class SmsSettings:
    """Tencent Cloud SMS ``SendSms`` 2021-01-11."""

    # The simulator's address and credentials in demo and test mode; nothing in production.
    endpoint: str = field(default_factory=lambda: _secret("ZXT_SMS_ENDPOINT", "http://127.0.0.1:18080/"))
    region: str = field(default_factory=lambda: _env("ZXT_SMS_REGION", "ap-guangzhou"))
    secret_id: str = field(default_factory=lambda: _secret("ZXT_SMS_SECRET_ID", "AKIDzxtLocalSimulator0001"))
    secret_key: str = field(default_factory=lambda: _secret("ZXT_SMS_SECRET_KEY", SIMULATOR_SMS_SECRET_KEY))
    app_id: str = field(default_factory=lambda: _secret("ZXT_SMS_APP_ID", "1400000001"))
    sign_name: str = field(default_factory=lambda: _env("ZXT_SMS_SIGN_NAME", "广水市税务局"))
    timeout_s: float = field(default_factory=lambda: _env_float("ZXT_SMS_TIMEOUT_S", 10.0))
    max_per_number_per_day: int = field(default_factory=lambda: _env_int("ZXT_SMS_MAX_PER_NUMBER_DAY", 3))
    # Messages per second across every relay worker (below the provider's frequency limit).
    max_per_second: int = field(default_factory=lambda: _env_int("ZXT_SMS_MAX_PER_SECOND", 2000))


@dataclass(frozen=True)
class WeChatSettings:
    """WeChat official account template messages (``message/template/send``)."""

    # Base URL of the API (https://api.weixin.qq.com in production).
    # The simulator in demo and test mode; production: set it to use the WeChat channel.
    endpoint: str = field(default_factory=lambda: _secret("ZXT_WECHAT_ENDPOINT", "http://127.0.0.1:18081"))
    app_id: str = field(default_factory=lambda: _env("ZXT_WECHAT_APP_ID", "wx5a1c0ffee0zxt001"))
    app_secret: str = field(
        default_factory=lambda: _secret("ZXT_WECHAT_APP_SECRET", "zxt-local-wechat-simulator-secret")
    )
    timeout_s: float = field(default_factory=lambda: _env_float("ZXT_WECHAT_TIMEOUT_S", 10.0))
    # The token configured on the account's server settings: it signs the events WeChat pushes.
    callback_token: str = field(
        default_factory=lambda: _secret("ZXT_WECHAT_CALLBACK_TOKEN", "zxt-local-callback")
    )


@dataclass(frozen=True)
class FeedbackSettings:
    """Receipts and replies: where our callback receiver listens; how much one pull takes."""

    callback_host: str = field(default_factory=lambda: _env("ZXT_FEEDBACK_HOST", "127.0.0.1"))
    callback_port: int = field(default_factory=lambda: _env_int("ZXT_FEEDBACK_PORT", 18082))
    # PullSmsSendStatus / PullSmsReplyStatus return at most 100 items per call.
    pull_limit: int = field(default_factory=lambda: _env_int("ZXT_FEEDBACK_PULL_LIMIT", 100))
    # Stop pulling after this many calls in one run (the next run continues).
    max_pull_calls: int = field(default_factory=lambda: _env_int("ZXT_FEEDBACK_MAX_PULL_CALLS", 200))
    # Delivery rates are recomputed for business dates this many days back.
    rate_days: int = field(default_factory=lambda: _env_int("ZXT_FEEDBACK_RATE_DAYS", 7))

    @property
    def callback_base_url(self) -> str:
        return f"http://{self.callback_host}:{self.callback_port}"


@dataclass(frozen=True)
class DeliverySettings:
    """When taxpayers may be messaged (Asia/Shanghai hours) and how the relay retries and leases.
    Channels may set their own per-recipient and per-second limits (e.g. ``SmsSettings``)."""

    send_window_start_hour: int = 8
    send_window_end_hour: int = 21
    # Attempts that reached the provider (answered "try again") before a reminder is dead.
    max_attempts: int = field(default_factory=lambda: _env_int("ZXT_DELIVERY_MAX_ATTEMPTS", 5))
    # A worker's claim on outbox rows; rows of a worker that died return (or, if their request may
    # have left, become unknown) when it expires. Longer than one request's timeout.
    lease_s: float = field(default_factory=lambda: _env_float("ZXT_DELIVERY_LEASE_S", 120.0))
    # Rows one worker claims at a time, and provider requests it keeps in flight at once (marked
    # sending together just before they leave, answers recorded together).
    claim_size: int = field(default_factory=lambda: _env_int("ZXT_DELIVERY_CLAIM_SIZE", 1000))
    requests_in_flight: int = field(default_factory=lambda: _env_int("ZXT_DELIVERY_REQUESTS_IN_FLIGHT", 8))
    # Circuit breaker: after this many requests in a row that never reached a provider, pause the
    # channel for breaker_pause_s (doubling, up to breaker_max_pause_s) and then try one request.
    breaker_threshold: int = field(default_factory=lambda: _env_int("ZXT_DELIVERY_BREAKER_THRESHOLD", 3))
    breaker_pause_s: float = field(default_factory=lambda: _env_float("ZXT_DELIVERY_BREAKER_PAUSE_S", 60.0))
    breaker_max_pause_s: float = field(
        default_factory=lambda: _env_float("ZXT_DELIVERY_BREAKER_MAX_PAUSE_S", 900.0)
    )
    # Defaults for channels without their own limits.
    max_per_recipient_per_day: int = field(
        default_factory=lambda: _env_int("ZXT_DELIVERY_MAX_PER_RECIPIENT_DAY", 3)
    )
    max_per_second: int = field(default_factory=lambda: _env_int("ZXT_DELIVERY_MAX_PER_SECOND", 1000))


@dataclass(frozen=True)
class BankSettings:
    """Bank referral drops over SFTP."""

    sftp_host: str = field(default_factory=lambda: _env("ZXT_SFTP_HOST", "127.0.0.1"))
    sftp_port: int = field(default_factory=lambda: _env_int("ZXT_SFTP_PORT", 18022))
    sender_code: str = field(default_factory=lambda: _env("ZXT_SENDER_CODE", "ZXT"))

    def sftp_password(self, bank_code: str) -> str:
        """Password of our account on a bank's SFTP server (ZXT_SFTP_PASSWORD_<BANK>); the simulator's
        only in demo and test mode."""
        variable = f"ZXT_SFTP_PASSWORD_{bank_code.upper()}"
        value = _secret(variable, f"zxt-{bank_code.lower()}-local")
        if not value:
            raise ConfigError(
                f"{variable} is not set: production has no default SFTP password for {bank_code}"
            )
        return value

    def cipher(self, bank_code: str) -> str:
        """How files for a bank are encrypted (ZXT_BANK_CIPHER_<BANK>): gpg (default) or none."""
        value = _env(f"ZXT_BANK_CIPHER_{bank_code.upper()}", "gpg")
        if value not in {"gpg", "none"}:
            raise ValueError(
                f"ZXT_BANK_CIPHER_{bank_code.upper()}={value!r}: use gpg or none (SM2/SM4 not built yet)"
            )
        return value


@dataclass(frozen=True)
class PlatformSettings:
    """The city credit-sharing platform's API (信用信息共享平台): external departments' datasets."""

    # Empty: no platform configured (pulls are skipped and the source gate reports the drops missing).
    url: str = field(default_factory=lambda: _env("ZXT_PLATFORM_URL", ""))
    client_id: str = field(default_factory=lambda: _env("ZXT_PLATFORM_CLIENT_ID", "zxt-guangshui"))
    client_secret: str = field(
        default_factory=lambda: _secret("ZXT_PLATFORM_CLIENT_SECRET", "zxt-platform-local-secret")
    )
    page_size: int = field(default_factory=lambda: _env_int("ZXT_PLATFORM_PAGE_SIZE", 2000))
    timeout_s: float = field(default_factory=lambda: _env_float("ZXT_PLATFORM_TIMEOUT_S", 30.0))
    # 5xx, timeouts and refused connections: attempts per request, backing off from backoff_s
    # (doubling, at most max_backoff_s) between them.
    max_attempts: int = field(default_factory=lambda: _env_int("ZXT_PLATFORM_MAX_ATTEMPTS", 6))
    backoff_s: float = field(default_factory=lambda: _env_float("ZXT_PLATFORM_BACKOFF_S", 1.0))
    max_backoff_s: float = field(default_factory=lambda: _env_float("ZXT_PLATFORM_MAX_BACKOFF_S", 60.0))
    # 429: wait as long as Retry-After says (capped), this many times per pull.
    max_rate_limited: int = field(default_factory=lambda: _env_int("ZXT_PLATFORM_MAX_RATE_LIMITED", 30))
    # An expired cursor restarts the pull from the first page, at most this many times.
    max_restarts: int = field(default_factory=lambda: _env_int("ZXT_PLATFORM_MAX_RESTARTS", 3))


@dataclass(frozen=True)
class AirflowSettings:
    """The local Airflow of ``zxt airflow up`` (api-server, scheduler, dag-processor, triggerer)."""

    api_host: str = field(default_factory=lambda: _env("ZXT_AIRFLOW_HOST", "127.0.0.1"))
    api_port: int = field(default_factory=lambda: _env_int("ZXT_AIRFLOW_PORT", 8080))
    # Metadata database; empty means a database `airflow` on the embedded PostgreSQL.
    metadata_url: str = field(default_factory=lambda: _env("ZXT_AIRFLOW_DB_URL", ""))
    # Task slots of the LocalExecutor: 2 per core, at least 4 (a night maps ingest tasks in parallel).
    parallelism: int = field(
        default_factory=lambda: _env_int("ZXT_AIRFLOW_PARALLELISM", max(4, 2 * (os.cpu_count() or 2)))
    )
    # The login of the local UI (and of `zxt rerun` / `zxt airflow status`, which use the REST API).
    username: str = field(default_factory=lambda: _env("ZXT_AIRFLOW_USER", "admin"))
    # Demo/test only; production has no default (the compose stack passes AIRFLOW_ADMIN_PASSWORD).
    password: str = field(default_factory=lambda: _secret("ZXT_AIRFLOW_PASSWORD", "zxt-admin"))

    @property
    def base_url(self) -> str:
        return f"http://{self.api_host}:{self.api_port}"


@dataclass(frozen=True)
class AlertSettings:
    """Where failures are reported: a WeCom (企业微信) group robot and e-mail. Empty: not sent."""

    wecom_webhook_url: str = field(default_factory=lambda: _env("ZXT_ALERT_WECOM_URL", ""))
    smtp_host: str = field(default_factory=lambda: _env("ZXT_ALERT_SMTP_HOST", ""))
    smtp_port: int = field(default_factory=lambda: _env_int("ZXT_ALERT_SMTP_PORT", 25))
    mail_from: str = field(default_factory=lambda: _env("ZXT_ALERT_MAIL_FROM", "zxt-alerts@localhost"))
    # Comma-separated recipients.
    mail_to: str = field(default_factory=lambda: _env("ZXT_ALERT_MAIL_TO", "data-team@localhost"))
    # The night must have finished (published and delivered) this many minutes after it was queued
    # (01:30 + 270 min = 06:00 in Guangshui), or a deadline alert goes out.
    publish_deadline_min: int = field(default_factory=lambda: _env_int("ZXT_PUBLISH_DEADLINE_MIN", 270))
    timeout_s: float = field(default_factory=lambda: _env_float("ZXT_ALERT_TIMEOUT_S", 10.0))

    @property
    def recipients(self) -> list[str]:
        return [a.strip() for a in self.mail_to.split(",") if a.strip()]


@dataclass(frozen=True)
class Settings:
    mode: str = field(default_factory=mode)
    paths: Paths = field(default_factory=Paths)
    warehouse: WarehouseSettings = field(default_factory=WarehouseSettings)
    clock: Clock = field(default_factory=Clock)
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    quality: QualitySettings = field(default_factory=QualitySettings)
    sms: SmsSettings = field(default_factory=SmsSettings)
    wechat: WeChatSettings = field(default_factory=WeChatSettings)
    feedback: FeedbackSettings = field(default_factory=FeedbackSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    bank: BankSettings = field(default_factory=BankSettings)
    platform: PlatformSettings = field(default_factory=PlatformSettings)
    airflow: AirflowSettings = field(default_factory=AirflowSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ConfigError(
                f"refusing to start in {self.mode} mode: " + "; ".join(problems) + ". See docs/operations.md"
                " (production configuration)."
            )

    def problems(self) -> list[str]:
        """Why these settings must not run: production without its secrets, or a simulator's secret
        about to be sent to a server that is not on this machine."""
        out: list[str] = []
        if self.mode == "production":
            if self.warehouse.embedded:
                out.append("ZXT_WAREHOUSE_URL is not set (production has no embedded warehouse)")
            for role in TASK_ROLES[1:]:
                variable = self.warehouse.role_url_variable(role)
                if not os.environ.get(variable):
                    out.append(f"{variable} is not set (each task role logs in with its own password)")
            for variable, value in (
                ("ZXT_SMS_ENDPOINT", self.sms.endpoint),
                ("ZXT_SMS_SECRET_ID", self.sms.secret_id),
                ("ZXT_SMS_SECRET_KEY", self.sms.secret_key),
                ("ZXT_SMS_APP_ID", self.sms.app_id),
            ):
                if not value:
                    out.append(f"{variable} is not set")
            # Optional counterparts: once configured, their credentials are required too.
            if self.wechat.endpoint:
                for variable, value in (
                    ("ZXT_WECHAT_APP_SECRET", self.wechat.app_secret),
                    ("ZXT_WECHAT_CALLBACK_TOKEN", self.wechat.callback_token),
                ):
                    if not value:
                        out.append(f"{variable} is not set (ZXT_WECHAT_ENDPOINT is)")
            if self.platform.url and not self.platform.client_secret:
                out.append("ZXT_PLATFORM_CLIENT_SECRET is not set (ZXT_PLATFORM_URL is)")
        elif self.sms.secret_key == SIMULATOR_SMS_SECRET_KEY and not _loopback(self.sms.endpoint):
            out.append(
                f"ZXT_SMS_ENDPOINT {self.sms.endpoint} is not on this machine but the SMS credentials are the "
                "simulator's: set ZXT_SMS_SECRET_ID/ZXT_SMS_SECRET_KEY (and ZXT_MODE=production)"
            )
        return out

    def with_(self, **changes: Any) -> Settings:
        """A copy with some values changed, named ``<section>__<field>``: ``with_(sms__endpoint=url)``."""
        sections: dict[str, dict[str, Any]] = {}
        for key, value in changes.items():
            section, sep, name = key.partition("__")
            if not sep or not hasattr(self, section):
                raise TypeError(f"{key!r}: name a section field as <section>__<field>, e.g. sms__endpoint")
            sections.setdefault(section, {})[name] = value
        return dataclasses.replace(
            self, **{s: dataclasses.replace(getattr(self, s), **kw) for s, kw in sections.items()}
        )


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


@cache
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (tests change the environment)."""
    get_settings.cache_clear()
