"""All configuration in one typed place, read from ``ZXT_*`` environment variables.

Importing this module does no I/O, so DAG files may import it at parse time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

BUREAU_TZ = ZoneInfo("Asia/Shanghai")
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "")
    return value if value != "" else default


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r} is not a whole number") from exc


def _env_date(name: str) -> date | None:
    raw = os.environ.get(name, "")
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r} is not a date (YYYY-MM-DD)") from exc


@dataclass(frozen=True)
class PgParams:
    host: str
    port: int
    user: str
    password: str
    dbname: str

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}:{self.password}@{self.host}:{self.port}/{self.dbname}"

    @property
    def libpq(self) -> str:
        return f"host={self.host} port={self.port} user={self.user} password={self.password} dbname={self.dbname}"


@dataclass(frozen=True)
class Settings:
    home: Path = field(default_factory=lambda: Path(_env("ZXT_HOME", str(PROJECT_ROOT / ".zxt"))))
    # Empty means: use the embedded PostgreSQL under <home>/pg, started on demand.
    warehouse_url: str = field(default_factory=lambda: _env("ZXT_WAREHOUSE_URL", ""))
    embedded_pg_port: int = field(default_factory=lambda: _env_int("ZXT_EMBEDDED_PG_PORT", 54329))
    landing_dir: Path | None = field(default_factory=lambda: _opt_path("ZXT_LANDING_DIR"))
    archive_dir: Path | None = field(default_factory=lambda: _opt_path("ZXT_ARCHIVE_DIR"))
    # The bureau's "today" / "now"; set only to replay or simulate a day (demo, tests).
    today_override: date | None = field(default_factory=lambda: _env_date("ZXT_TODAY"))
    now_override: datetime | None = field(default_factory=lambda: _env_datetime("ZXT_NOW"))
    # Reminders for returns due within this many days.
    # The nightly run looks for new or changed drops this many days back (older ones: `zxt ingest`).
    ingest_lookback_days: int = field(default_factory=lambda: _env_int("ZXT_INGEST_LOOKBACK_DAYS", 14))
    # Delay between Airflow task retries.
    retry_delay_s: int = field(default_factory=lambda: _env_int("ZXT_RETRY_DELAY_S", 300))
    # Overdue returns older than this get no SMS: officers follow them up instead.
    reminder_max_days_late: int = field(default_factory=lambda: _env_int("ZXT_REMINDER_MAX_DAYS_LATE", 90))
    # Reminders for returns due within this many days (dbt var warning_horizon_days).
    warning_horizon_days: int = field(default_factory=lambda: _env_int("ZXT_WARNING_HORIZON_DAYS", 7))
    # SMS (Tencent Cloud SendSms 2021-01-11)
    sms_endpoint: str = field(default_factory=lambda: _env("ZXT_SMS_ENDPOINT", "http://127.0.0.1:18080/"))
    sms_region: str = field(default_factory=lambda: _env("ZXT_SMS_REGION", "ap-guangzhou"))
    sms_secret_id: str = field(default_factory=lambda: _env("ZXT_SMS_SECRET_ID", "AKIDzxtLocalSimulator0001"))
    sms_secret_key: str = field(
        default_factory=lambda: _env("ZXT_SMS_SECRET_KEY", "zxt-local-simulator-secret")
    )
    sms_app_id: str = field(default_factory=lambda: _env("ZXT_SMS_APP_ID", "1400000001"))
    sms_sign_name: str = field(default_factory=lambda: _env("ZXT_SMS_SIGN_NAME", "广水市税务局"))
    sms_timeout_s: float = field(default_factory=lambda: float(_env("ZXT_SMS_TIMEOUT_S", "10")))
    sms_max_per_number_per_day: int = field(default_factory=lambda: _env_int("ZXT_SMS_MAX_PER_NUMBER_DAY", 3))
    send_window_start_hour: int = 8
    send_window_end_hour: int = 21
    # Bank SFTP
    sftp_host: str = field(default_factory=lambda: _env("ZXT_SFTP_HOST", "127.0.0.1"))
    sftp_port: int = field(default_factory=lambda: _env_int("ZXT_SFTP_PORT", 18022))
    sftp_known_hosts: Path | None = field(default_factory=lambda: _opt_path("ZXT_SFTP_KNOWN_HOSTS"))
    sender_code: str = field(default_factory=lambda: _env("ZXT_SENDER_CODE", "ZXT"))
    gnupg_home: Path | None = field(default_factory=lambda: _opt_path("ZXT_GNUPG_HOME"))

    # --- derived paths -------------------------------------------------------------------------
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
        return self.sftp_known_hosts or self.sftp_dir / "known_hosts"

    @property
    def gnupg(self) -> Path:
        return self.gnupg_home or self.home / "gnupg"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def dbt_project_dir(self) -> Path:
        return PROJECT_ROOT / "dbt_project"

    # --- warehouse -----------------------------------------------------------------------------
    @property
    def embedded(self) -> bool:
        return not self.warehouse_url

    @property
    def pg(self) -> PgParams:
        if self.embedded:
            return PgParams("127.0.0.1", self.embedded_pg_port, "zxt", "zxt", "zxt")
        parts = urlsplit(self.warehouse_url)
        if not parts.hostname or not parts.path.strip("/"):
            raise ValueError("ZXT_WAREHOUSE_URL must look like postgresql://user:password@host:port/dbname")
        return PgParams(
            host=parts.hostname,
            port=parts.port or 5432,
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password or ""),
            dbname=parts.path.strip("/"),
        )

    def dbt_env(self) -> dict[str, str]:
        """Environment variables read by dbt_project/profiles.yml."""
        pg = self.pg
        return {
            "ZXT_PG_HOST": pg.host,
            "ZXT_PG_PORT": str(pg.port),
            "ZXT_PG_USER": pg.user,
            "ZXT_PG_PASSWORD": pg.password,
            "ZXT_PG_DBNAME": pg.dbname,
        }

    def sftp_password(self, bank_code: str) -> str:
        """Password of our account on a bank's SFTP server (ZXT_SFTP_PASSWORD_<BANK>)."""
        return _env(f"ZXT_SFTP_PASSWORD_{bank_code.upper()}", f"zxt-{bank_code.lower()}-local")

    def bank_cipher(self, bank_code: str) -> str:
        """How files for a bank are encrypted (ZXT_BANK_CIPHER_<BANK>): gpg (default) or none."""
        value = _env(f"ZXT_BANK_CIPHER_{bank_code.upper()}", "gpg")
        if value not in {"gpg", "none"}:
            raise ValueError(
                f"ZXT_BANK_CIPHER_{bank_code.upper()}={value!r}: use gpg or none (SM2/SM4 not built yet)"
            )
        return value

    # --- the bureau's clock --------------------------------------------------------------------
    def now(self) -> datetime:
        if self.now_override is not None:
            return self.now_override
        real = datetime.now(BUREAU_TZ)
        if self.today_override is None:
            return real
        return datetime.combine(self.today_override, real.timetz())

    def today(self) -> date:
        if self.today_override is not None:
            return self.today_override
        return self.now().date()

    def current_business_date(self) -> date:
        """The nightly run at 01:30 closes the previous day: that day is the current business date."""
        return self.today() - timedelta(days=1)


def _env_datetime(name: str) -> datetime | None:
    raw = os.environ.get(name, "")
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r} is not an ISO date-time (e.g. 2026-11-13T10:00:00+08:00)") from exc
    return value if value.tzinfo else value.replace(tzinfo=BUREAU_TZ)


def _opt_path(name: str) -> Path | None:
    raw = os.environ.get(name, "")
    return Path(raw) if raw else None


@cache
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (tests change the environment)."""
    get_settings.cache_clear()
