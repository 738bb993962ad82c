"""`make demo`: a synthetic county through the whole nightly pipeline for one business date.

The demo pretends it is the morning after ``as_of`` in Guangshui (ZXT_TODAY), so that date is the
current business date and delivery acts; the relay then runs at 10:00 that morning.
"""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from urllib.parse import urlsplit

from rich.console import Console

from zxt.core.settings import BUREAU_TZ, PROJECT_ROOT, Settings, get_settings, reset_settings
from zxt.ops import summary as report
from zxt.orchestration import airflow_env
from zxt.transform import dbt_runner as dbt_cli
from zxt.warehouse import server as warehouse
from zxt_sandbox import bank_keys, demo_feedback, sftp_server

SEED = 42


def bank_codes() -> list[str]:
    path = PROJECT_ROOT / "dbt_project" / "seeds" / "bank_products.csv"
    with path.open(encoding="utf-8") as fh:
        return sorted({row["bank_code"] for row in csv.DictReader(fh)})


def _wait_port(host: str, port: int, what: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not start listening on {host}:{port} within {timeout_s}s")


@contextmanager
def background(cmd: list[str], log: Path, host: str, port: int, what: str):
    """Run a loopback server for the duration of the block."""
    with socket.socket() as s:
        if s.connect_ex((host, port)) == 0:
            raise RuntimeError(f"port {port} is already in use; cannot start {what}")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=airflow_env.environ())
    try:
        _wait_port(host, port, what)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def loopback_servers(settings: Settings, stack: ExitStack) -> None:
    """Start our callback receiver, the SMS gateway and WeChat simulators pushing receipts and replies
    to it, and the bank SFTP server (keys and users first)."""
    banks = bank_codes()
    bank_keys.ensure_demo_keys(settings, banks)
    sftp_server.ensure_server_files(settings, {b: settings.bank.sftp_password(b) for b in banks})
    fb = settings.feedback
    stack.enter_context(
        background(
            [sys.executable, "-m", "zxt.cli.main", "feedback", "serve"],
            settings.paths.run_dir / "callback-receiver.log",
            fb.callback_host,
            fb.callback_port,
            "callback receiver",
        )
    )
    wechat = urlsplit(settings.wechat.endpoint)
    stack.enter_context(
        background(
            [
                sys.executable,
                "-m",
                "zxt_sandbox.wechat_gateway",
                "--host",
                wechat.hostname or "127.0.0.1",
                "--port",
                str(wechat.port),
                "--callback",
                fb.callback_base_url + "/wechat",
                "--record",
                str(settings.paths.run_dir / "wechat-messages.json"),
            ],
            settings.paths.run_dir / "wechat-simulator.log",
            wechat.hostname or "127.0.0.1",
            wechat.port or 80,
            "WeChat API simulator",
        )
    )
    sms = urlsplit(settings.sms.endpoint)
    stack.enter_context(
        background(
            [
                sys.executable,
                "-m",
                "zxt_sandbox.sms_gateway",
                "--host",
                sms.hostname or "127.0.0.1",
                "--port",
                str(sms.port),
                "--record",
                str(settings.paths.run_dir / "sms-messages.jsonl"),
                "--status-callback",
                fb.callback_base_url + "/sms/status",
                "--reply-callback",
                fb.callback_base_url + "/sms/reply",
            ],
            settings.paths.run_dir / "sms-simulator.log",
            sms.hostname or "127.0.0.1",
            sms.port or 80,
            "SMS gateway simulator",
        )
    )
    stack.enter_context(
        background(
            [
                sys.executable,
                "-m",
                "zxt_sandbox.sftp_server",
                "--host",
                settings.bank.sftp_host,
                "--port",
                str(settings.bank.sftp_port),
            ],
            settings.paths.run_dir / "sftp-server.log",
            settings.bank.sftp_host,
            settings.bank.sftp_port,
            "bank SFTP server",
        )
    )


def platform_server(settings: Settings, stack: ExitStack, start: date, end: date, enterprises: int) -> None:
    """Start the credit-sharing platform simulator serving the same county as the landing zone."""
    url = urlsplit(settings.platform.url)
    stack.enter_context(
        background(
            [
                sys.executable,
                "-m",
                "zxt_sandbox.credit_platform",
                "--host",
                url.hostname or "127.0.0.1",
                "--port",
                str(url.port),
                "--enterprises",
                str(enterprises),
                "--seed",
                str(SEED),
                "--start",
                start.isoformat(),
                "--end",
                end.isoformat(),
            ],
            settings.paths.run_dir / "credit-platform.log",
            url.hostname or "127.0.0.1",
            url.port or 80,
            "credit-sharing platform simulator",
        )
    )


def ensure_landing(settings: Settings, start: date, end: date, enterprises: int, console: Console) -> None:
    from zxt_sandbox import synth

    marker = settings.paths.landing / f".synth-{SEED}-{enterprises}-{start}-{end}-with-bad-files-external"
    if marker.exists():
        console.print(f"landing zone already generated ({marker.name})")
        return
    with console.status(f"generating {enterprises:,} enterprises, drops {start} … {end}"):
        # The last drop also carries a few contract-violating files, to show where they end up.
        summary = synth.generate(
            settings.paths.landing, start, end, enterprises=enterprises, seed=SEED, inject_bad_rows=True
        )
    marker.touch()
    rows = sum(c.rows for c in summary.datasets.values())
    console.print(f"landing zone: {rows:,} rows in {sum(c.files for c in summary.datasets.values())} files")


def dag_test(
    dag_id: str, when: str, settings: Settings, log: Path, extra: dict[str, str] | None = None
) -> bool:
    result = airflow_env.run(["dags", "test", dag_id, when], settings, extra=extra, capture=True)
    log.write_text(result.stdout + result.stderr, encoding="utf-8")
    return (
        result.returncode == 0
        and "state=success" in (result.stdout + result.stderr).split("DagRun Finished")[-1]
    )


def run(as_of: date, enterprises: int = 15000, console: Console | None = None) -> int:
    console = console or Console()
    # The demo's clock: the morning after as_of, so as_of is the current business date.
    os.environ["ZXT_TODAY"] = (as_of + timedelta(days=1)).isoformat()
    # A demo failure is a bug to read, not a blip to wait out.
    os.environ.setdefault("ZXT_RETRY_DELAY_S", "5")
    # External departments' data is pulled from the platform simulator started below.
    os.environ.setdefault("ZXT_PLATFORM_URL", "http://127.0.0.1:18090/")
    reset_settings()
    settings = get_settings()
    settings.paths.run_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()

    with console.status("starting the warehouse"):
        warehouse.start(settings)
    console.print(f"warehouse: {warehouse.status(settings).url}")
    ensure_landing(settings, as_of - timedelta(days=2), as_of, enterprises, console)
    with console.status("parsing the dbt project; preparing Airflow metadata"):
        dbt_cli.parse(settings)
        airflow_env.ensure_db(settings)

    with ExitStack() as stack:
        loopback_servers(settings, stack)
        platform_server(settings, stack, as_of - timedelta(days=2), as_of, enterprises)
        console.print(
            f"SMS gateway simulator on {settings.sms.endpoint}; WeChat API simulator on "
            f"{settings.wechat.endpoint}; our callback receiver on {settings.feedback.callback_base_url}; "
            f"bank SFTP on {settings.bank.sftp_host}:{settings.bank.sftp_port}; credit-sharing platform on "
            f"{settings.platform.url}"
        )
        nightly_log = settings.paths.run_dir / f"zxt_nightly-{as_of}.log"
        with console.status(f"airflow dags test zxt_nightly {as_of}  (log: {nightly_log})"):
            ok = dag_test("zxt_nightly", as_of.isoformat(), settings, nightly_log)
        if not ok:
            console.print(f"[red]zxt_nightly failed for {as_of}[/]; see {nightly_log}")
            report.print_summary(as_of, console, settings)
            return 1
        console.print(f"zxt_nightly {as_of}: [green]success[/]")
        morning = datetime.combine(as_of + timedelta(days=1), dtime(10, 0), BUREAU_TZ)
        injected = demo_feedback.inject_faults(settings)
        console.print(f"simulated carrier and account faults: {injected}")
        ok = True
        # Send; receipts are pushed back; a taxpayer replies R; zxt_feedback settles, falls back and
        # marks follow-ups; the relay sends the fallbacks; zxt_feedback settles those.
        for minutes, dag_id in (
            (0, "zxt_outreach_relay"),
            (15, "zxt_feedback"),
            (30, "zxt_outreach_relay"),
            (45, "zxt_feedback"),
        ):
            at = morning + timedelta(minutes=minutes)
            log_file = settings.paths.run_dir / f"{dag_id}-{as_of}-{at:%H%M}.log"
            with console.status(f"airflow dags test {dag_id} {at.isoformat()}"):
                # These act on the bureau's clock: set it to that morning.
                step_ok = dag_test(
                    dag_id, at.isoformat(), settings, log_file, extra={"ZXT_NOW": at.isoformat()}
                )
            console.print(
                f"{dag_id} at {at:%Y-%m-%d %H:%M} Asia/Shanghai: "
                f"{'[green]success[/]' if step_ok else '[red]failed[/] (see ' + str(log_file) + ')'}"
            )
            ok = ok and step_ok
            if minutes == 0:
                replied = demo_feedback.opt_out_reply(settings)
                console.print(f"a taxpayer replied R to a text: {replied}")
        report.print_summary(as_of, console, settings)
    console.print(
        f"\ndemo wall time {time.monotonic() - t0:.0f}s. The warehouse keeps running for you to "
        "explore; stop it with `.venv/bin/zxt warehouse stop`."
    )
    return 0 if ok else 1
