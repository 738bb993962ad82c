"""The bureau's clock: Guangshui time, and which business date the night closes.

``ZXT_TODAY`` / ``ZXT_NOW`` replay or simulate a day (demo, tests); unset, it is the real time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

BUREAU_TZ = ZoneInfo("Asia/Shanghai")


def _env_date(name: str) -> date | None:
    raw = os.environ.get(name, "")
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r} is not a date (YYYY-MM-DD)") from exc


def _env_datetime(name: str) -> datetime | None:
    raw = os.environ.get(name, "")
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r} is not an ISO date-time (e.g. 2026-11-13T10:00:00+08:00)") from exc
    return value if value.tzinfo else value.replace(tzinfo=BUREAU_TZ)


@dataclass(frozen=True)
class Clock:
    today_override: date | None = field(default_factory=lambda: _env_date("ZXT_TODAY"))
    now_override: datetime | None = field(default_factory=lambda: _env_datetime("ZXT_NOW"))

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
