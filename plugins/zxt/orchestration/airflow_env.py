"""Run the Airflow CLI against this project: AIRFLOW_HOME under .zxt, our dags/ and plugins/."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from zxt.core.settings import PROJECT_ROOT, Settings, get_settings


def environ(settings: Settings | None = None, extra: dict[str, str] | None = None) -> dict[str, str]:
    settings = settings or get_settings()
    home = settings.paths.airflow_home
    env = dict(os.environ)
    env.update(settings.warehouse.dbt_env())
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
            # `airflow dags test` runs in-process; SQLite metadata is enough for that.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": env.get(
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home / 'airflow.db'}"
            ),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            "AIRFLOW__COSMOS__PROPAGATE_LOGS": "False",
            "GX_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(PROJECT_ROOT / "plugins"), env.get("PYTHONPATH")])
            ),
            "ZXT_HOME": str(settings.paths.home),
        }
    )
    if settings.warehouse.url:
        env["ZXT_WAREHOUSE_URL"] = settings.warehouse.url
    if extra:
        env.update(extra)
    return env


def airflow_bin() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def run(
    args: list[str],
    settings: Settings | None = None,
    extra: dict[str, str] | None = None,
    capture: bool = False,
) -> subprocess.CompletedProcess:
    settings = settings or get_settings()
    settings.paths.airflow_home.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [airflow_bin(), *args],
        env=environ(settings, extra),
        check=False,
        text=True,
        capture_output=capture,
    )


def ensure_db(settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    marker = settings.paths.airflow_home / ".db-migrated"
    if marker.exists():
        return
    result = run(["db", "migrate"], settings, capture=True)
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{result.stderr[-3000:]}")
    marker.touch()
