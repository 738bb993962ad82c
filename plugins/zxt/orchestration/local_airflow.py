"""``zxt airflow up | down | status``: Airflow on one machine, as the data engineers operate it.

Starts the api-server (UI and REST API), scheduler, dag-processor and triggerer as background
processes on the project's AIRFLOW_HOME and PostgreSQL metadata database (airflow_env), with the
LocalExecutor sized to the machine. Local stand-ins of external systems (SMS gateway, bank SFTP,
alert receivers) come from the ``zxt.local_services`` entry point when the sandbox is installed —
the product never imports it. Process ids and logs live under ``<AIRFLOW_HOME>/run`` and ``/logs``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from zxt.core.settings import Settings, get_settings
from zxt.orchestration import airflow_env

log = logging.getLogger(__name__)

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


@dataclass
class Process:
    name: str
    pid: int | None
    alive: bool
    log: Path


@dataclass
class Service:
    """A background process: an Airflow component or a stand-in (argv, and the port it listens on)."""

    name: str
    argv: list[str]
    port: int | None = None
    host: str = "127.0.0.1"


def _run_dir(settings: Settings) -> Path:
    return settings.paths.airflow_home / "run"


def _log_dir(settings: Settings) -> Path:
    return settings.paths.airflow_home / "logs"


def _pidfile(settings: Settings, name: str) -> Path:
    return _run_dir(settings) / f"{name}.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


def _read_pid(settings: Settings, name: str) -> int | None:
    try:
        return int(_pidfile(settings, name).read_text().strip())
    except (OSError, ValueError):
        return None


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _stand_ins() -> list:
    """Providers of local stand-ins (``zxt.local_services`` entry point); none in production."""
    out = []
    for ep in entry_points(group="zxt.local_services"):
        try:
            out.append(ep.load())
        except ModuleNotFoundError:
            continue
    return out


def stand_in_env(settings: Settings) -> dict[str, str]:
    """Settings the stand-ins need the Airflow processes to use (e.g. alert receivers' addresses)."""
    env: dict[str, str] = {}
    for provider in _stand_ins():
        env.update({k: v for k, v in provider.environment(settings).items() if not os.environ.get(k)})
    return env


def _spawn(settings: Settings, svc: Service, env: dict[str, str]) -> int:
    pid = _read_pid(settings, svc.name)
    if pid and _alive(pid):
        return pid
    if svc.port and _port_open(svc.host, svc.port):
        raise RuntimeError(f"port {svc.port} is taken: cannot start {svc.name} (see `zxt airflow status`)")
    _run_dir(settings).mkdir(parents=True, exist_ok=True)
    _log_dir(settings).mkdir(parents=True, exist_ok=True)
    with (_log_dir(settings) / f"{svc.name}.log").open("ab") as out:
        # Its own session: `zxt airflow down` stops the component with everything it started.
        proc = subprocess.Popen(
            svc.argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            cwd=settings.paths.home,
        )
    _pidfile(settings, svc.name).write_text(str(proc.pid))
    return proc.pid


def _wait_port(svc: Service, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if svc.port is None or _port_open(svc.host, svc.port):
            return
        time.sleep(0.3)
    raise RuntimeError(f"{svc.name} did not listen on {svc.host}:{svc.port} within {timeout_s:.0f}s")


def components(settings: Settings) -> list[Service]:
    af = settings.airflow
    airflow = airflow_env.airflow_bin()
    return [
        Service(
            "api-server",
            [airflow, "api-server", "--host", af.api_host, "--port", str(af.api_port)],
            af.api_port,
            af.api_host,
        ),
        Service("scheduler", [airflow, "scheduler"]),
        Service("dag-processor", [airflow, "dag-processor"]),
        Service("triggerer", [airflow, "triggerer"]),
    ]


def up(settings: Settings | None = None, timeout_s: float = 180) -> list[Process]:
    """Start the warehouse, the stand-ins and the four Airflow components; wait until the API answers."""
    from zxt.transform import dbt_runner
    from zxt.warehouse import migrate
    from zxt.warehouse import server as warehouse

    settings = settings or get_settings()
    warehouse.start(settings)
    migrate.upgrade(warehouse.engine(settings))  # once here, never on a task's hot path
    if not settings.paths.dbt_manifest.exists():
        dbt_runner.parse(settings)
    airflow_env.ensure_db(settings)
    extra = stand_in_env(settings)
    env = airflow_env.environ(settings, extra)
    for provider in _stand_ins():
        provider.prepare(settings)  # keys, SFTP accounts: the bank drop works without the demo
        for svc in provider.services(settings):
            _spawn(settings, Service(**svc), env)
            _wait_port(Service(**svc), 30)
    for svc in components(settings):
        _spawn(settings, svc, env)
    wait_healthy(settings, timeout_s)
    return status(settings)


def wait_healthy(settings: Settings, timeout_s: float = 180) -> None:
    import httpx

    url = f"{settings.airflow.base_url}/api/v2/monitor/health"
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        for name in COMPONENTS:
            pid = _read_pid(settings, name)
            if pid is None or not _alive(pid):
                raise RuntimeError(f"{name} exited; see {_log_dir(settings) / (name + '.log')}")
        try:
            r = httpx.get(url, timeout=5)
            body = r.json()
            if r.status_code == 200 and body.get("scheduler", {}).get("status") == "healthy":
                return
            last = str(body)
        except (httpx.HTTPError, ValueError) as exc:
            last = str(exc)
        time.sleep(1)
    raise RuntimeError(f"Airflow did not become healthy within {timeout_s:.0f}s: {last}")


def _all_names(settings: Settings) -> list[str]:
    run = _run_dir(settings)
    known = list(COMPONENTS)
    if run.exists():
        known += sorted(p.stem for p in run.glob("*.pid") if p.stem not in COMPONENTS)
    return known


def status(settings: Settings | None = None) -> list[Process]:
    settings = settings or get_settings()
    out = []
    for name in _all_names(settings):
        pid = _read_pid(settings, name)
        out.append(Process(name, pid, bool(pid and _alive(pid)), _log_dir(settings) / f"{name}.log"))
    return out


def down(settings: Settings | None = None, timeout_s: float = 30) -> list[str]:
    """Stop what `up` started (by the process ids it recorded), gently first."""
    settings = settings or get_settings()
    stopped = []
    for name in reversed(_all_names(settings)):
        pid = _read_pid(settings, name)
        if pid and _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _alive(pid):
                os.killpg(pid, signal.SIGKILL)
            stopped.append(name)
        _pidfile(settings, name).unlink(missing_ok=True)
    return stopped
