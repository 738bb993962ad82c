"""Test harness: a separate ZXT_HOME and embedded PostgreSQL port, so tests never touch the demo.

Everything real runs on loopback: the warehouse (embedded PostgreSQL, or ZXT_WAREHOUSE_URL), the
SMS gateway simulator (HTTP), the bank SFTP server and gpg.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEST_HOME = ROOT / ".zxt" / "test"


# Set before anything reads zxt.settings or imports Airflow.
os.environ.setdefault("ZXT_HOME", str(TEST_HOME))
os.environ.setdefault("ZXT_EMBEDDED_PG_PORT", "54339")
os.environ["ZXT_MODE"] = "test"  # simulator secrets; never a production environment
os.environ["AIRFLOW_HOME"] = str(TEST_HOME / "airflow")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(ROOT / "plugins")  # our timetable and run notes
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__COSMOS__ENABLE_TELEMETRY"] = "False"
os.environ["GX_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ["ZXT_RETRY_DELAY_S"] = "1"

from tests.support import reset_warehouse  # noqa: E402


@pytest.fixture(scope="session")
def engine():
    from zxt.core.settings import reset_settings
    from zxt.warehouse import server as warehouse

    reset_settings()
    warehouse.start()
    return warehouse.engine()


@pytest.fixture
def clean_warehouse(engine):
    reset_warehouse(engine)
    return engine
