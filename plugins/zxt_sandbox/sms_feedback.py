"""What the loopback SMS gateway reports after a send: delivery receipts and the taxpayers' replies.

As Tencent Cloud SMS does: each accepted message later gets a status report, pushed to the status
callback URL as a JSON **array** (several reports per POST; the receiver answers
``{"result":0,"errmsg":"OK"}`` and may see duplicates) and kept for ``PullSmsSendStatus``; a reply is
pushed to the reply callback URL as one JSON object and kept for ``PullSmsReplyStatus``. Each pulled
item is handed out once. A reply "R" / "TD" / "退订" also puts the number on the gateway's own
blacklist (later sends answer ``FailedOperation.PhoneNumberInBlacklist``).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from datetime import datetime
from typing import Any

from zxt.core.settings import BUREAU_TZ
from zxt_sandbox.callback_push import CallbackPusher

OPT_OUT_WORDS = frozenset({"R", "TD", "T", "退订", "N"})
FAIL_DESCRIPTION = "用户短信未送达"
MAX_KEPT = 200_000
SUCCESS_DESCRIPTION = "用户短信送达成功"


def _local(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, BUREAU_TZ)


class SmsFeedback:
    """Receipt and reply queues of one gateway; thread-safe."""

    def __init__(
        self,
        status_callback_url: str | None,
        reply_callback_url: str | None,
        sign_name: str,
    ) -> None:
        self.status_callback_url = status_callback_url
        self.reply_callback_url = reply_callback_url
        self.sign_name = sign_name
        self._lock = threading.Lock()
        # Kept for the pull API up to a bound, as the provider keeps them for a while only.
        self._statuses: deque[dict[str, Any]] = deque(maxlen=MAX_KEPT)
        self._replies: deque[dict[str, Any]] = deque(maxlen=MAX_KEPT)
        self.pusher = CallbackPusher("sms-feedback") if (status_callback_url or reply_callback_url) else None

    def reset(self) -> None:
        with self._lock:
            self._statuses.clear()
            self._replies.clear()

    def delivered(self, accepted: list[tuple[str, str, str, str | None]], now: float) -> None:
        """Reports for the messages one SendSms call accepted: (serial, e164 number, context, errmsg).

        ``errmsg`` None means the handset received it; otherwise the carrier's failure code.
        """
        if not accepted:
            return
        received = _local(now)
        push = self.pusher is not None and bool(self.status_callback_url)
        pulled, pushed = [], []
        for serial, number, context, errmsg in accepted:
            ok = errmsg is None
            mobile = number.removeprefix("+86")
            pulled.append(
                {
                    "UserReceiveTime": int(now),
                    "CountryCode": "86",
                    "SubscriberNumber": mobile,
                    "PhoneNumber": number,
                    "SerialNo": serial,
                    "ReportStatus": "SUCCESS" if ok else "FAIL",
                    "Description": "DELIVRD" if ok else errmsg,
                    "SessionContext": context,
                }
            )
            if not push:
                continue
            pushed.append(
                {
                    "user_receive_time": received.strftime("%Y-%m-%d %H:%M:%S"),
                    "nationcode": "86",
                    "mobile": mobile,
                    "report_status": "SUCCESS" if ok else "FAIL",
                    "errmsg": "DELIVRD" if ok else errmsg,
                    "description": SUCCESS_DESCRIPTION if ok else FAIL_DESCRIPTION,
                    "sid": serial,
                }
            )
        with self._lock:
            self._statuses.extend(pulled)
        if push and self.pusher is not None:
            body = json.dumps(pushed, ensure_ascii=False).encode("utf-8")
            self.pusher.push(self.status_callback_url, body, "application/json")

    def reply(self, mobile: str, text: str, now: float, extend: str = "") -> bool:
        """A taxpayer answers a text; True when it is an opt-out (the caller blacklists the number)."""
        with self._lock:
            self._replies.append(
                {
                    "ExtendCode": extend,
                    "CountryCode": "86",
                    "SubscriberNumber": mobile,
                    "SignName": self.sign_name,
                    "ReplyContent": text,
                    "ReplyTime": int(now),
                    "PhoneNumber": "+86" + mobile,
                }
            )
        if self.pusher and self.reply_callback_url:
            doc = {
                "extend": extend,
                "mobile": mobile,
                "nationcode": "86",
                "sign": self.sign_name,
                "text": text,
                "time": int(now),
            }
            self.pusher.push(
                self.reply_callback_url,
                json.dumps(doc, ensure_ascii=False).encode("utf-8"),
                "application/json",
            )
        return text.strip().upper() in OPT_OUT_WORDS

    def pull_statuses(self, limit: int) -> list[dict[str, Any]]:
        return self._pop(self._statuses, limit)

    def pull_replies(self, limit: int) -> list[dict[str, Any]]:
        return self._pop(self._replies, limit)

    def _pop(self, q: deque[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
        with self._lock:
            return [q.popleft() for _ in range(min(limit, len(q)))]

    def drain(self, timeout_s: float = 10.0) -> bool:
        return True if self.pusher is None else self.pusher.drain(timeout_s)

    def close(self) -> None:
        if self.pusher is not None:
            self.pusher.close()
