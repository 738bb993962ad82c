"""Stand-ins `zxt airflow up` starts beside Airflow (entry point ``zxt.local_services``): the SMS
gateway and WeChat simulators (pushing receipts and replies to our callback receiver, `zxt feedback
serve`), the bank SFTP server with its accounts and the banks' keys, and the alert receivers (WeCom
robot webhook, SMTP) — as the demo prepares them, so the bank drop and the relay work after
`zxt airflow up` alone."""

from __future__ import annotations

import sys
from urllib.parse import urlsplit

from zxt.core.settings import Settings

WEBHOOK_PORT = 18090
SMTP_PORT = 18025


def prepare(settings: Settings) -> None:
    from zxt_sandbox import bank_keys, sftp_server
    from zxt_sandbox.demo import bank_codes

    settings.paths.run_dir.mkdir(parents=True, exist_ok=True)  # the simulators record there
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
    wechat = urlsplit(settings.wechat.endpoint)
    fb = settings.feedback
    webhook, smtp = _ports(settings)
    run = settings.paths.run_dir
    py = sys.executable
    return [
        {
            "name": "callback-receiver",
            "argv": [py, "-m", "zxt.cli.main", "feedback", "serve"],
            "port": fb.callback_port,
            "host": fb.callback_host,
        },
        {
            "name": "wechat-gateway",
            "argv": [
                py,
                "-m",
                "zxt_sandbox.wechat_gateway",
                "--host",
                wechat.hostname or "127.0.0.1",
                "--port",
                str(wechat.port or 80),
                "--callback",
                fb.callback_base_url + "/wechat",
                "--record",
                str(run / "wechat-messages.json"),
            ],
            "port": wechat.port or 80,
            "host": wechat.hostname or "127.0.0.1",
        },
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
                "--status-callback",
                fb.callback_base_url + "/sms/status",
                "--reply-callback",
                fb.callback_base_url + "/sms/reply",
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
