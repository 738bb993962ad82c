"""Run Airflow against this project: AIRFLOW_HOME under .zxt, our dags/ and plugins/, one metadata
database for every Airflow command (PostgreSQL: a database ``airflow`` on the embedded server unless
``ZXT_AIRFLOW_DB_URL`` names another), so `zxt airflow backfill create` and the UI see the same runs.

No secret goes into the environment here: tasks resolve the warehouse connection from ``zxt``
settings when they run.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from zxt.core.settings import PROJECT_ROOT, Settings, get_settings

METADATA_DB = "airflow"


def metadata_url(settings: Settings) -> str:
    if settings.airflow.metadata_url:
        return settings.airflow.metadata_url
    pg = settings.warehouse.pg  # the embedded server (or the warehouse's server), database `airflow`
    return f"postgresql+psycopg2://{pg.user}:{pg.password}@{pg.host}:{pg.port}/{METADATA_DB}"


def _jwt_secret(home: Path) -> str:
    """One signing key shared by the api-server and the task runners (they verify each other's tokens)."""
    path = home / "jwt_secret"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()


def passwords_file(settings: Settings) -> Path:
    """The simple auth manager's user → password file, with the documented login (settings.airflow)."""
    path = settings.paths.airflow_home / "passwords.json"
    want = {settings.airflow.username: settings.airflow.password}
    if not path.exists() or json.loads(path.read_text() or "{}") != want:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(json.dumps(want))
    return path


def environ(settings: Settings | None = None, extra: dict[str, str] | None = None) -> dict[str, str]:
    settings = settings or get_settings()
    home = settings.paths.airflow_home
    af = settings.airflow
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url(settings),
            # Fitted to a small machine: a few task slots, one api worker, one parsing process.
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(af.parallelism),
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(af.parallelism),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__SCHEDULER__PARSING_PROCESSES": "1",
            # The API's address, used by task runners (execution API) and in log links.
            "AIRFLOW__API__HOST": af.api_host,
            "AIRFLOW__API__PORT": str(af.api_port),
            "AIRFLOW__API__BASE_URL": af.base_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{af.base_url}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": _jwt_secret(home),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{af.username}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
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
    env = environ(settings, extra)
    if args[:2] == ["dags", "test"]:
        # `dags test` of a DAG with deadline alerts fails when its run ends (Airflow 3.3 looks the
        # unsaved alerts up by id); there is no triggerer to send one in that process anyway.
        env["ZXT_PUBLISH_DEADLINE_MIN"] = "0"
    return subprocess.run(
        [airflow_bin(), *args],
        env=env,
        check=False,
        text=True,
        capture_output=capture,
    )


def _migrated(url: str) -> bool:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("select to_regclass('alembic_version')")).scalar() is not None
    finally:
        engine.dispose()


def ensure_db(settings: Settings | None = None) -> None:
    """Create the metadata database (embedded server) and migrate it when this Airflow version has not."""
    import airflow

    from zxt.warehouse import server as warehouse

    settings = settings or get_settings()
    if not settings.airflow.metadata_url:
        warehouse.start(settings)
        warehouse.ensure_database(settings, METADATA_DB)
    passwords_file(settings)
    url = metadata_url(settings)
    marker = settings.paths.airflow_home / ".db-migrated"
    stamp = f"{airflow.__version__} {url.split('@')[-1]}"
    if marker.exists() and marker.read_text() == stamp and _migrated(url):
        return
    result = run(["db", "migrate"], settings, capture=True)
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{result.stderr[-3000:]}")
    marker.write_text(stamp)
