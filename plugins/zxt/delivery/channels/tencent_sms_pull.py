"""Tencent Cloud SMS ``PullSmsSendStatus`` / ``PullSmsReplyStatus`` (2021-01-11), TC3-signed.

Each call hands out up to 100 receipts or replies that were not pulled before; the feedback job
calls until a page comes back short. Pulling is read-only for taxpayers: retrying is always safe.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

import requests

from zxt.core.settings import Settings, get_settings
from zxt.delivery.channels import tc3

VERSION = "2021-01-11"
SEND_STATUS = "PullSmsSendStatus"
REPLY_STATUS = "PullSmsReplyStatus"
_RESULT_SET = {SEND_STATUS: "PullSmsSendStatusSet", REPLY_STATUS: "PullSmsReplyStatusSet"}
MAX_LIMIT = 100


class PullError(RuntimeError):
    pass


class TencentSmsPuller:
    def __init__(self, settings: Settings | None = None) -> None:
        s = settings or get_settings()
        parts = urlsplit(s.sms.endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"sms_endpoint {s.sms.endpoint!r} is not an http(s) URL")
        self.endpoint = s.sms.endpoint
        self.host = parts.netloc.rpartition("@")[2]
        self.region = s.sms.region
        self.app_id = s.sms.app_id
        self.timeout_s = s.sms.timeout_s
        self._secret_id = s.sms.secret_id
        self._secret_key = s.sms.secret_key

    def pull(self, action: str, limit: int = MAX_LIMIT) -> list[dict[str, Any]]:
        if action not in _RESULT_SET:
            raise ValueError(f"unknown pull action {action!r}")
        body = json.dumps({"Limit": min(limit, MAX_LIMIT), "SmsSdkAppId": self.app_id}).encode("utf-8")
        headers = tc3.sign_headers(
            self._secret_id, self._secret_key, self.host, action, body, int(time.time()), self.region, VERSION
        )
        try:
            r = requests.post(self.endpoint, data=body, headers=headers, timeout=self.timeout_s)
            doc = r.json()["Response"]
        except (requests.exceptions.RequestException, ValueError, KeyError, TypeError) as exc:
            raise PullError(f"{action}: {type(exc).__name__} talking to the SMS gateway") from exc
        if "Error" in doc:
            raise PullError(f"{action}: {doc['Error'].get('Code')} {doc['Error'].get('Message')}")
        return list(doc.get(_RESULT_SET[action]) or [])
