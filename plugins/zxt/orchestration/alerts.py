"""Alerts to the data team: a WeCom (企业微信) group robot webhook and e-mail (SMTP).

An alert names the DAG, task, business date, reason and a log link — never taxpayer data: the
reason is cut short and anything shaped like a mobile number or a USCC is masked before it leaves.
A channel that is not configured is skipped; a channel that fails is logged and does not hide the
other (an alert must not fail the task it reports on).
"""

from __future__ import annotations

import logging
import re
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage

from zxt.core.settings import Settings, get_settings

log = logging.getLogger(__name__)

MAX_REASON = 600
# 11-digit mainland mobiles and 18-character unified social credit codes (USCC).
_PERSONAL = re.compile(
    r"(?<![0-9A-Z])(?:1[3-9]\d{9}|[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10})(?![0-9A-Z])"
)


@dataclass(frozen=True)
class Alert:
    kind: str  # task_failed | gate_failed | deadline_missed
    dag_id: str
    business_date: str
    reason: str
    task_id: str = ""
    run_id: str = ""
    log_url: str = ""

    @property
    def title(self) -> str:
        what = {
            "task_failed": "task failed",
            "gate_failed": "gate failed",
            "deadline_missed": "not published by its deadline",
        }
        where = f"{self.dag_id}.{self.task_id}" if self.task_id else self.dag_id
        return f"[ZXT] {where} {what.get(self.kind, self.kind)} — business date {self.business_date}"

    def text(self) -> str:
        lines = [
            self.title,
            f"DAG: {self.dag_id}",
            f"Task: {self.task_id or '-'}",
            f"Business date: {self.business_date}",
            f"Run: {self.run_id or '-'}",
            f"Reason: {scrub(self.reason)}",
        ]
        if self.log_url:
            lines.append(f"Log: {self.log_url}")
        return "\n".join(lines)


def scrub(reason: str) -> str:
    """Short, and without anything that could identify a taxpayer."""
    text = _PERSONAL.sub("***", " ".join(reason.split()))
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def send(alert: Alert, settings: Settings | None = None) -> dict[str, str]:
    """Send to every configured channel; returns channel → 'sent' | 'skipped' | 'failed: …'."""
    settings = settings or get_settings()
    out = {"wecom": _wecom(alert, settings), "email": _email(alert, settings)}
    log.warning("alert %s: %s (%s)", alert.kind, alert.title, ", ".join(f"{k} {v}" for k, v in out.items()))
    return out


def _wecom(alert: Alert, settings: Settings) -> str:
    """WeCom group robot: POST {"msgtype": "markdown", ...}; the robot answers errcode 0 when accepted."""
    import httpx

    url = settings.alerts.wecom_webhook_url
    if not url:
        return "skipped"
    body = {"msgtype": "markdown", "markdown": {"content": _markdown(alert)}}
    try:
        r = httpx.post(url, json=body, timeout=settings.alerts.timeout_s)
        r.raise_for_status()
        answer = r.json()
        if answer.get("errcode") != 0:
            return f"failed: errcode {answer.get('errcode')} {answer.get('errmsg', '')}"
        return "sent"
    except (httpx.HTTPError, ValueError) as exc:
        log.error("WeCom alert not delivered: %s", exc)
        return f"failed: {exc}"


def _markdown(alert: Alert) -> str:
    # WeCom markdown accepts a small subset; <font color="warning"> marks the title.
    lines = [f'<font color="warning">{alert.title}</font>']
    for label, value in (
        ("DAG", alert.dag_id),
        ("Task", alert.task_id or "-"),
        ("Business date", alert.business_date),
        ("Run", alert.run_id or "-"),
        ("Reason", scrub(alert.reason)),
    ):
        lines.append(f"> {label}: {value}")
    if alert.log_url:
        lines.append(f"[Log]({alert.log_url})")
    return "\n".join(lines)


def _email(alert: Alert, settings: Settings) -> str:
    a = settings.alerts
    if not a.smtp_host or not a.recipients:
        return "skipped"
    msg = EmailMessage()
    msg["Subject"] = alert.title
    msg["From"] = a.mail_from
    msg["To"] = ", ".join(a.recipients)
    msg.set_content(alert.text())
    try:
        with smtplib.SMTP(a.smtp_host, a.smtp_port, timeout=a.timeout_s) as smtp:
            smtp.send_message(msg)
        return "sent"
    except (OSError, smtplib.SMTPException) as exc:
        log.error("e-mail alert not delivered: %s", exc)
        return f"failed: {exc}"
