"""Connection settings for dbt (read by dbt_project/profiles.yml), from zxt.settings."""

from __future__ import annotations

import os

from zxt.core.settings import Settings, get_settings


def export(settings: Settings | None = None) -> dict[str, str]:
    """Put the warehouse connection into this process's environment for dbt (no I/O)."""
    env = (settings or get_settings()).warehouse.dbt_env()
    os.environ.update(env)
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    return env
