"""Tencent Cloud SMS ``SendSms`` (API 3.0, version 2021-01-11) over plain ``requests``.

One call sends one template to at most 200 numbers and returns one outcome per number. The client
never resends on its own: once a request may have left, only delivery receipts can say whether a
text went out, and resending could text a taxpayer twice. ``TencentSmsChannel`` is the ``sms``
channel of the relay (``channels.base``): Tencent's codes are classified here and nowhere else.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from zxt.core.identifiers import is_mobile
from zxt.core.settings import Settings, get_settings
from zxt.delivery.channels import tc3
from zxt.delivery.channels.base import Channel, Message, MessageResult, NotSent, Outcome

log = logging.getLogger(__name__)

ACTION = "SendSms"
VERSION = "2021-01-11"
SERVICE = "sms"
MAX_NUMBERS_PER_CALL = 200
MAX_SESSION_CONTEXT_BYTES = 512

# Outcomes (channels.base.Outcome) under the names this module has always used.
SUBMITTED = Outcome.SUBMITTED
SUPPRESS = Outcome.SUPPRESS
RESCHEDULE = Outcome.RESCHEDULE
PAUSE_CHANNEL = Outcome.PAUSE
RETRY = Outcome.RETRY
NOT_SENT = Outcome.NOT_SENT
PERMANENT = Outcome.FAILED
UNKNOWN = Outcome.UNKNOWN

# Synthetic codes for failures that never got a Tencent code.
CONNECT_ERROR = "Network.ConnectError"
READ_TIMEOUT = "Network.ReadTimeout"
BROKEN_RESPONSE = "Network.BrokenResponse"
MISSING_STATUS = "Response.MissingSendStatus"


_RESCHEDULE_CODES = frozenset(
    {
        "LimitExceeded.PhoneNumberDailyLimit",
        "LimitExceeded.PhoneNumberOneHourLimit",
        "LimitExceeded.PhoneNumberThirtySecondLimit",
        "LimitExceeded.PhoneNumberSameContentDailyLimit",
        "LimitExceeded.DeliveryFrequencyLimit",
        # Spellings without the "PhoneNumber" infix, as some documents write them.
        "LimitExceeded.OneHourLimit",
        "LimitExceeded.ThirtySecondLimit",
        "LimitExceeded.SameContentDailyLimit",
    }
)
_PAUSE_CODES = frozenset(
    {
        "LimitExceeded.AppDailyLimit",
        "LimitExceeded.AppGlobalDailyLimit",
        "LimitExceeded.AppMainlandChinaDailyLimit",
        "LimitExceeded.AppCountryOrRegionDailyLimit",
        "LimitExceeded.DailyLimit",
        "FailedOperation.InsufficientBalanceInSmsPackage",
        "UnauthorizedOperation.ServiceSuspendDueToArrears",
    }
)


def classify(code: str) -> Outcome:
    """Map a Tencent (or synthetic ``HTTP.<status>`` / ``Network.*``) code to an outcome."""
    if code == "Ok":
        return SUBMITTED
    if code == "FailedOperation.PhoneNumberInBlacklist":
        return SUPPRESS
    if code in _RESCHEDULE_CODES:
        return RESCHEDULE
    if code in _PAUSE_CODES:
        return PAUSE_CHANNEL
    if code == "InternalError" or code.startswith(("InternalError.", "RequestLimitExceeded")):
        return RETRY
    # A gateway/proxy timeout (502/504) may have passed the request on: the text may be out.
    if code in ("HTTP.502", "HTTP.504"):
        return UNKNOWN
    # Nothing left this machine: retrying costs no attempt, repeated failures pause the channel.
    if code == CONNECT_ERROR:
        return NOT_SENT
    if re.fullmatch(r"HTTP\.5\d\d", code):
        return RETRY
    if code in (READ_TIMEOUT, BROKEN_RESPONSE, MISSING_STATUS):
        return UNKNOWN
    # Wrong number, unapproved sign/template, sensitive words, AuthFailure.*, anything new.
    return PERMANENT


def mask_phone(phone: str) -> str:
    """138****1234 — the only form of a number that may appear in logs."""
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 8 else "****"


def to_e164(phone: str) -> str:
    """11-digit mainland mobiles get +86; anything else is passed on for the gateway to judge."""
    return "+86" + phone if is_mobile(phone) else phone


def from_e164(phone: str) -> str:
    return phone[3:] if phone.startswith("+86") else phone


@dataclass(frozen=True)
class NumberResult:
    phone: str  # as given: 11 digits for mainland mobiles
    code: str
    message: str
    serial_no: str | None
    outcome: Outcome


@dataclass(frozen=True)
class SendResult:
    request_id: str | None
    per_number: list[NumberResult] = field(default_factory=list)
    # Set when the whole call failed; every number then carries the same code.
    error_code: str | None = None
    error_message: str | None = None

    @property
    def outcomes(self) -> dict[str, str]:
        return {r.phone: r.outcome for r in self.per_number}


class TencentSmsClient:
    """Signs and posts ``SendSms`` to ``settings.sms.endpoint`` (the real gateway or the simulator)."""

    def __init__(self, settings: Settings | None = None) -> None:
        s = settings or get_settings()
        parts = urlsplit(s.sms.endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"sms_endpoint {s.sms.endpoint!r} is not an http(s) URL")
        self.endpoint = s.sms.endpoint
        # Host as it appears in the URL (with a non-default port): it is part of the signature.
        self.host = parts.netloc.rpartition("@")[2]
        self.region = s.sms.region
        self.app_id = s.sms.app_id
        self.sign_name = s.sms.sign_name
        self.timeout_s = s.sms.timeout_s
        self._secret_id = s.sms.secret_id
        self._secret_key = s.sms.secret_key

    def build_body(
        self, phone_numbers: list[str], template_id: str, params: list[str], session_context: str
    ) -> bytes:
        payload = {
            "PhoneNumberSet": [to_e164(p) for p in phone_numbers],
            "SmsSdkAppId": self.app_id,
            "SignName": self.sign_name,
            "TemplateId": template_id,
            "TemplateParamSet": list(params),
            "SessionContext": session_context,
        }
        return json.dumps(payload, ensure_ascii=False).encode("utf-8")

    def send(
        self, phone_numbers: list[str], template_id: str, params: list[str], session_context: str = ""
    ) -> SendResult:
        """Send one template to up to 200 numbers; every number gets an outcome, nothing is resent."""
        if not 1 <= len(phone_numbers) <= MAX_NUMBERS_PER_CALL:
            raise ValueError(f"send takes 1..{MAX_NUMBERS_PER_CALL} numbers, got {len(phone_numbers)}")
        if len(set(phone_numbers)) != len(phone_numbers):
            raise ValueError("duplicate phone numbers in one call")
        if len(session_context.encode("utf-8")) > MAX_SESSION_CONTEXT_BYTES:
            raise ValueError(f"session_context exceeds {MAX_SESSION_CONTEXT_BYTES} bytes")

        body = self.build_body(phone_numbers, template_id, params, session_context)
        timestamp = int(time.time())  # the gateway rejects anything 5 minutes off its clock
        headers = tc3.sign_headers(
            self._secret_id,
            self._secret_key,
            self.host,
            ACTION,
            body,
            timestamp,
            self.region,
            VERSION,
            SERVICE,
        )
        # requests.post uses a throwaway session, hence a fresh connection: a stale pooled
        # keep-alive connection would fail after the write and make a harmless reconnect "unknown".
        try:
            response = requests.post(
                self.endpoint, data=body, headers=headers, timeout=(self.timeout_s, self.timeout_s)
            )
        except requests.exceptions.RequestException as exc:
            code = _network_code(exc)
            result = _whole_call(
                phone_numbers, None, code, f"{type(exc).__name__} talking to the SMS gateway"
            )
        else:
            result = _parse(phone_numbers, response)
        _log_result(template_id, result)
        return result


def _network_code(exc: requests.exceptions.RequestException) -> str:
    """Connect failures never sent a byte (safe to retry); anything later may have been sent.

    TLS errors count as "may have been sent" too: urllib3 reports handshake and mid-stream TLS
    failures alike, and an unknown outcome is reconciled while a double text cannot be undone.
    """
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return CONNECT_ERROR
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return READ_TIMEOUT
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = exc.args[0] if exc.args else None
        if isinstance(reason, MaxRetryError):
            reason = reason.reason
        # NameResolutionError is a NewConnectionError: the request never left either way.
        if isinstance(reason, NewConnectionError | ConnectTimeoutError):
            return CONNECT_ERROR
    return BROKEN_RESPONSE  # reset or garbled after the request was written


def _whole_call(phones: list[str], request_id: str | None, code: str, message: str) -> SendResult:
    outcome = classify(code)
    return SendResult(
        request_id=request_id,
        per_number=[NumberResult(from_e164(p), code, message, None, outcome) for p in phones],
        error_code=code,
        error_message=message,
    )


def _parse(phones: list[str], response: requests.Response) -> SendResult:
    if response.status_code != 200:
        # Tencent answers every API error with HTTP 200: another status is the gateway or a proxy.
        return _whole_call(phones, None, f"HTTP.{response.status_code}", response.reason or "HTTP error")
    try:
        doc: Any = response.json()
        resp = doc["Response"]
        request_id = resp.get("RequestId")
        error = resp.get("Error")
        if error:
            return _whole_call(phones, request_id, str(error["Code"]), str(error.get("Message", "")))
        statuses = {str(s["PhoneNumber"]): s for s in resp["SendStatusSet"]}
    except (ValueError, KeyError, TypeError, AttributeError):
        # The request was accepted for processing but we cannot read what happened to it.
        return _whole_call(phones, None, BROKEN_RESPONSE, "unreadable response from the SMS gateway")

    results = []
    for phone in phones:
        status = statuses.get(to_e164(phone)) or statuses.get(phone)
        if status is None:
            results.append(
                NumberResult(from_e164(phone), MISSING_STATUS, "no status for this number", None, UNKNOWN)
            )
            continue
        code = str(status.get("Code", ""))
        results.append(
            NumberResult(
                phone=from_e164(phone),
                code=code,
                message=str(status.get("Message", "")),
                serial_no=status.get("SerialNo") or None,
                outcome=classify(code),
            )
        )
    return SendResult(request_id=request_id, per_number=results)


def _log_result(template_id: str, result: SendResult) -> None:
    # Counts and codes only: numbers and template parameters are personal data (PIPL).
    codes = Counter(r.code for r in result.per_number)
    log.info(
        "SendSms template=%s numbers=%d request_id=%s error=%s codes=%s",
        template_id,
        len(result.per_number),
        result.request_id,
        result.error_code,
        dict(codes),
    )


class TencentSmsChannel(Channel):
    """The ``sms`` channel: one ``SendSms`` call per batch of ≤ 200 numbers sharing a template and
    its parameters (Tencent's own rule); every number's status is classified on its own."""

    name = "sms"
    max_batch = MAX_NUMBERS_PER_CALL

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.client = TencentSmsClient(settings)

    @property
    def max_per_recipient_per_day(self) -> int:
        return self.settings.sms.max_per_number_per_day

    @property
    def max_per_second(self) -> int:
        return self.settings.sms.max_per_second

    def retry_after(self, result: MessageResult) -> timedelta | None:
        # Tencent's per-number windows: 30 seconds, one hour, or the day (next send window).
        if "ThirtySecond" in result.code:
            return timedelta(minutes=1)
        if "DailyLimit" in result.code:
            return None
        return timedelta(hours=1)

    def send_batch(self, messages: Sequence[Message]) -> list[MessageResult]:
        if not messages:
            return []
        first = messages[0]
        if any(m.template_id != first.template_id or m.params != first.params for m in messages):
            raise ValueError("one SendSms call carries one template with one parameter set")
        # Echoed back with every status; receipts are matched on SerialNo, this is for people.
        context = f"zxt:{first.outbox_id}" + (f"+{len(messages) - 1}" if len(messages) > 1 else "")
        try:
            result = self.client.send(
                [m.recipient for m in messages],
                first.template_id,
                list(first.params),
                session_context=context,
            )
        except ValueError as exc:  # refused by our own checks, before anything was sent
            raise NotSent(str(exc)) from exc
        by_phone = {r.phone: r for r in result.per_number}
        return [
            MessageResult(
                outbox_id=m.outbox_id,
                outcome=by_phone[m.recipient].outcome,
                code=by_phone[m.recipient].code,
                message=by_phone[m.recipient].message,
                provider_id=by_phone[m.recipient].serial_no,
                request_id=result.request_id,
            )
            for m in messages
        ]
