"""Stand-ins `zxt airflow up` starts beside Airflow (entry point ``zxt.local_services``): the SMS
gateway simulator, the bank SFTP server with its accounts and the banks' keys, and the alert
receivers (WeCom robot webhook, SMTP) — as the demo prepares them, so the bank drop and the relay
work after `zxt airflow up` alone."""

from __future__ import annotations

import sys
from urllib.parse import urlsplit

from zxt.core.settings import Settings

WEBHOOK_PORT = 18090
SMTP_PORT = 18025


def prepare(settings: Settings) -> None:
    from zxt_sandbox import bank_keys, sftp_server
    from zxt_sandbox.demo import bank_codes

    banks = bank_codes()
    bank_keys.ensure_demo_keys(settings, banks)
    sftp_server.ensure_server_files(settings, {b: settings.bank.sftp_password(b) for b in banks})


def _ports(settings: Settings) -> tuple[int, int]:
    """Alert receivers next to the API's port when it is not the default (parallel checkouts)."""
    port = settings.airflow.api_port
    return (WEBHOOK_PORT, SMTP_PORT) if port == 8080 else (port + 1, port + 2)


def environment(settings: Settings) -> dict[str, str]:
    from zxt_sandbox.alert_receivers import DEFAULT_KEY, WEBHOOK_PATH

    webhook, smtp = _ports(settings)
    return {
        "ZXT_ALERT_WECOM_URL": f"http://127.0.0.1:{webhook}{WEBHOOK_PATH}?key={DEFAULT_KEY}",
        "ZXT_ALERT_SMTP_HOST": "127.0.0.1",
        "ZXT_ALERT_SMTP_PORT": str(smtp),
    }


def services(settings: Settings) -> list[dict]:
    sms = urlsplit(settings.sms.endpoint)
    webhook, smtp = _ports(settings)
    run = settings.paths.run_dir
    py = sys.executable
    return [
        {
            "name": "sms-gateway",
            "argv": [
                py,
                "-m",
                "zxt_sandbox.sms_gateway",
                "--host",
                sms.hostname or "127.0.0.1",
                "--port",
                str(sms.port or 80),
                "--record",
                str(run / "sms-messages.jsonl"),
            ],
            "port": sms.port or 80,
            "host": sms.hostname or "127.0.0.1",
        },
        {
            "name": "bank-sftp",
            "argv": [
                py,
                "-m",
                "zxt_sandbox.sftp_server",
                "--host",
                settings.bank.sftp_host,
                "--port",
                str(settings.bank.sftp_port),
            ],
            "port": settings.bank.sftp_port,
            "host": settings.bank.sftp_host,
        },
        {
            "name": "alert-receivers",
            "argv": [
                py,
                "-m",
                "zxt_sandbox.alert_receivers",
                "--webhook-port",
                str(webhook),
                "--smtp-port",
                str(smtp),
                "--record-dir",
                str(run / "alerts"),
            ],
            "port": webhook,
        },
    ]
