"""A loopback Tencent Cloud SMS gateway (``SendSms`` 2021-01-11) for the demo and the tests.

It speaks the real protocol — TC3-signed JSON POSTs to ``/`` answered with HTTP 200 and either
``Response.SendStatusSet`` or ``Response.Error`` — and applies the gateway's rules that matter to
us: approved signs and templates, parameter counts, 200 numbers per call, per-number outcomes
(invalid number, opt-out blacklist, daily limit per number). Accepted messages are kept for
inspection (``GET /_sim/messages``) and optionally appended to a JSONL file.

Run: ``python -m zxt_sandbox.sms_gateway --host 127.0.0.1 --port 18080 --config F --record F``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import secrets
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

from zxt.core.identifiers import MOBILE_PATTERN
from zxt.core.settings import BUREAU_TZ, Settings, get_settings
from zxt.delivery.channels import tc3
from zxt_sandbox.sms_feedback import SmsFeedback

VERSION = "2021-01-11"
ACTION = "SendSms"
PULL_ACTIONS = frozenset({"PullSmsSendStatus", "PullSmsReplyStatus"})
REGIONS = frozenset({"ap-guangzhou", "ap-beijing", "ap-nanjing"})
MAX_NUMBERS = 200
MAX_SESSION_CONTEXT_BYTES = 512
KNOWN_PARAMETERS = frozenset(
    {
        "PhoneNumberSet",
        "SmsSdkAppId",
        "TemplateId",
        "SignName",
        "TemplateParamSet",
        "ExtendCode",
        "SessionContext",
        "SenderId",
    }
)
# Tencent takes E.164: +86 followed by a mainland mobile number.
MAINLAND_MOBILE = re.compile(r"^\+86" + MOBILE_PATTERN.lstrip("^"))
BUILTIN_TEMPLATE_ID = "2400001"
BUILTIN_TEMPLATE_TEXT = (
    "尊敬的{1}：您的{2}（所属期{3}）申报截止日为{4}，请按时申报，避免影响纳税信用。拒收请回复R"
)

_AUTH_MESSAGES = {
    tc3.SIGNATURE_FAILURE: "The provided credentials could not be validated. "
    "Please check your signature is correct.",
    tc3.SIGNATURE_EXPIRE: "Signature expired. The request timestamp is more than 5 minutes off server time.",
    tc3.SECRET_ID_NOT_FOUND: "The SecretId is not found, please ensure that your SecretId is correct.",
    tc3.INVALID_AUTHORIZATION: "The Authorization header is not in the TC3-HMAC-SHA256 standard format.",
}


@dataclass(frozen=True)
class Template:
    params: int
    text: str

    def render(self, params: list[str]) -> str:
        def sub(match: re.Match[str]) -> str:
            index = int(match[1])
            return params[index - 1] if 1 <= index <= len(params) else match[0]

        return re.sub(r"\{(\d+)\}", sub, self.text)


def _eleven_digits(number: str) -> str:
    return number[3:] if number.startswith("+86") else number


@dataclass
class SimulatorConfig:
    secrets: dict[str, str]
    app_id: str
    sign_names: list[str]
    templates: dict[str, Template]
    blacklist: set[str] = field(default_factory=set)  # 11-digit numbers that replied R
    fail_numbers: dict[str, str] = field(default_factory=dict)  # 11-digit number -> forced Code
    daily_limit_per_number: int = 10
    # Receipts and replies (sms_feedback.py): where they are pushed; numbers whose texts the
    # carrier fails to deliver (11-digit number -> errmsg of the FAIL report).
    status_callback_url: str | None = None
    reply_callback_url: str | None = None
    undeliverable: dict[str, str] = field(default_factory=dict)
    # Seconds between accepting a request (recorded) and answering it: lets crash tests kill the
    # sender while its request is known to have arrived but its answer has not.
    answer_delay_s: float = 0.0

    def __post_init__(self) -> None:
        self.blacklist = {_eleven_digits(n) for n in self.blacklist}
        self.fail_numbers = {_eleven_digits(n): code for n, code in self.fail_numbers.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base: SimulatorConfig | None = None) -> SimulatorConfig:
        """Build from the JSON shape; keys that are absent come from ``base`` (or ``default_config()``)."""
        base = base or default_config()
        templates = base.templates
        if "templates" in data:
            templates = {
                str(tid): Template(int(t["params"]), str(t["text"])) for tid, t in data["templates"].items()
            }
        return cls(
            secrets={str(k): str(v) for k, v in data.get("secrets", base.secrets).items()},
            app_id=str(data.get("app_id", base.app_id)),
            sign_names=[str(s) for s in data.get("sign_names", base.sign_names)],
            templates=templates,
            blacklist={str(n) for n in data.get("blacklist", base.blacklist)},
            fail_numbers={str(k): str(v) for k, v in data.get("fail_numbers", base.fail_numbers).items()},
            daily_limit_per_number=int(data.get("daily_limit_per_number", base.daily_limit_per_number)),
            status_callback_url=data.get("status_callback_url", base.status_callback_url),
            reply_callback_url=data.get("reply_callback_url", base.reply_callback_url),
            undeliverable={str(k): str(v) for k, v in data.get("undeliverable", base.undeliverable).items()},
            answer_delay_s=float(data.get("answer_delay_s", base.answer_delay_s)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "secrets": dict(self.secrets),
            "app_id": self.app_id,
            "sign_names": list(self.sign_names),
            "templates": {tid: {"params": t.params, "text": t.text} for tid, t in self.templates.items()},
            "blacklist": sorted(self.blacklist),
            "fail_numbers": dict(self.fail_numbers),
            "daily_limit_per_number": self.daily_limit_per_number,
            "status_callback_url": self.status_callback_url,
            "reply_callback_url": self.reply_callback_url,
            "undeliverable": dict(self.undeliverable),
            "answer_delay_s": self.answer_delay_s,
        }


def load_config(path: Path | str, base: SimulatorConfig | None = None) -> SimulatorConfig:
    return SimulatorConfig.from_dict(json.loads(Path(path).read_text(encoding="utf-8")), base)


def _seed_templates(seed: Path) -> dict[str, Template]:
    with seed.open(encoding="utf-8", newline="") as fh:
        return {
            row["provider_template_id"].strip(): Template(int(row["param_count"]), row["text_zh"])
            for row in csv.DictReader(fh)
            if row.get("channel") == "sms" and row.get("provider_template_id")
        }


def default_config(settings: Settings | None = None) -> SimulatorConfig:
    """Credentials, app and sign matching the Settings defaults; templates from the dbt seed."""
    s = settings or get_settings()
    seed = s.paths.dbt_project_dir / "seeds" / "message_templates.csv"
    templates = _seed_templates(seed) if seed.exists() else {}
    if not templates:
        templates = {BUILTIN_TEMPLATE_ID: Template(4, BUILTIN_TEMPLATE_TEXT)}
    return SimulatorConfig(
        secrets={s.sms.secret_id: s.sms.secret_key},
        app_id=s.sms.app_id,
        sign_names=[s.sms.sign_name],
        templates=templates,
    )


class _Reject(Exception):
    """A whole-call error, answered as ``Response.Error``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code)
        self.code = code
        self.message = message


def _fee(text: str) -> int:
    # Tencent bills 70 characters as one message; longer texts go out in 67-character parts.
    return 1 if len(text) <= 70 else math.ceil(len(text) / 67)


class GatewayState:
    """The gateway's rules and memory; thread-safe, independent of HTTP so it is easy to reason about."""

    def __init__(
        self, config: SimulatorConfig, record: Path | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.config = config
        self.record = record
        self.clock = clock
        self._lock = threading.Lock()
        self._messages: list[dict[str, Any]] = []
        self._accepted_per_day: Counter[tuple[str, str]] = Counter()
        self.feedback = SmsFeedback(
            config.status_callback_url,
            config.reply_callback_url,
            config.sign_names[0] if config.sign_names else "",
        )

    def messages(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._messages)

    def reset(self) -> None:
        with self._lock:
            self._messages.clear()
            self._accepted_per_day.clear()
        self.feedback.reset()

    def reply(self, mobile: str, text: str) -> bool:
        """A taxpayer replies to a text (``POST /_sim/reply``); an opt-out blacklists the number."""
        opt_out = self.feedback.reply(mobile, text, self.clock())
        if opt_out:
            with self._lock:
                self.config.blacklist.add(mobile)
        return opt_out

    def handle(self, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        """Answer one API request with the full ``{"Response": ...}`` document."""
        request_id = str(uuid.uuid4())
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            if lowered.get("x-tc-action") in PULL_ACTIONS:
                return {"Response": {**self._pull(lowered, body), "RequestId": request_id}}
            result = self._send(request_id, lowered, body)
        except _Reject as rej:
            return {
                "Response": {"Error": {"Code": rej.code, "Message": rej.message}, "RequestId": request_id}
            }
        return {"Response": {"SendStatusSet": result, "RequestId": request_id}}

    def _pull(self, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        """PullSmsSendStatus / PullSmsReplyStatus: up to ``Limit`` (≤ 100) items, each handed out once."""
        if headers.get("x-tc-version") != VERSION:
            raise _Reject("NoSuchVersion", "The requested version of service `sms` does not exist.")
        auth_error = tc3.verify(headers, body, self.config.secrets.get, self.clock(), service="sms")
        if auth_error:
            raise _Reject(auth_error, _AUTH_MESSAGES[auth_error])
        try:
            req = json.loads(body.decode("utf-8"))
            limit = int(req["Limit"])
        except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise _Reject("InvalidParameter", "Limit and SmsSdkAppId are required.") from exc
        if str(req.get("SmsSdkAppId")) != self.config.app_id:
            raise _Reject("InvalidParameterValue.SdkAppIdNotExist", "The SmsSdkAppId does not exist.")
        if not 1 <= limit <= 100:
            raise _Reject("InvalidParameterValue", "Limit must be between 1 and 100.")
        if headers["x-tc-action"] == "PullSmsSendStatus":
            return {"PullSmsSendStatusSet": self.feedback.pull_statuses(limit)}
        return {"PullSmsReplyStatusSet": self.feedback.pull_replies(limit)}

    # --- validation, in the order the gateway applies it ------------------------------------
    def _send(self, request_id: str, headers: dict[str, str], body: bytes) -> list[dict[str, Any]]:
        action = headers.get("x-tc-action", "")
        version = headers.get("x-tc-version", "")
        if not action:
            raise _Reject("MissingParameter", "The request is missing a required parameter `Action`.")
        if action != ACTION:
            raise _Reject("InvalidAction", f"The requested action `{action}` does not exist.")
        if not version:
            raise _Reject("MissingParameter", "The request is missing a required parameter `Version`.")
        if version != VERSION:
            raise _Reject(
                "NoSuchVersion", f"The requested version `{version}` of service `sms` does not exist."
            )

        auth_error = tc3.verify(headers, body, self.config.secrets.get, self.clock(), service="sms")
        if auth_error:
            raise _Reject(auth_error, _AUTH_MESSAGES[auth_error])

        region = headers.get("x-tc-region", "")
        if not region:
            raise _Reject("MissingParameter", "The request is missing a required parameter `Region`.")
        if region not in REGIONS:
            raise _Reject("UnsupportedRegion", f"The region `{region}` is not supported by SendSms.")

        req = self._parse_body(body)
        numbers, template_id, params, session_context = self._validate(req)
        return self._deliver(request_id, numbers, template_id, params, session_context, str(req["SignName"]))

    @staticmethod
    def _parse_body(body: bytes) -> dict[str, Any]:
        try:
            req = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise _Reject(
                "FailedOperation.JsonParseFail", "Failed to parse the request body as JSON."
            ) from exc
        if not isinstance(req, dict):
            raise _Reject("FailedOperation.JsonParseFail", "The request body must be a JSON object.")
        unknown = sorted(set(req) - KNOWN_PARAMETERS)
        if unknown:
            raise _Reject("UnknownParameter", f"The parameter `{unknown[0]}` is not recognized.")
        return req

    def _validate(self, req: dict[str, Any]) -> tuple[list[str], str, list[str], str]:
        cfg = self.config
        numbers = req.get("PhoneNumberSet")
        if not numbers:
            raise _Reject("MissingParameter.EmptyPhoneNumberSet", "PhoneNumberSet is empty.")
        if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers):
            raise _Reject("InvalidParameter", "PhoneNumberSet must be an array of strings.")
        if len(numbers) > MAX_NUMBERS:
            raise _Reject(
                "LimitExceeded.PhoneNumberCountLimit",
                f"At most {MAX_NUMBERS} numbers per request, got {len(numbers)}.",
            )
        domestic = [n.startswith("+86") for n in numbers if n.startswith("+")]
        if any(domestic) and not all(domestic):
            raise _Reject(
                "UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber",
                "A request cannot mix mainland China and international numbers.",
            )

        app_id = req.get("SmsSdkAppId")
        if not app_id:
            raise _Reject("MissingParameter", "The request is missing a required parameter `SmsSdkAppId`.")
        if str(app_id) != cfg.app_id:
            raise _Reject("InvalidParameterValue.SdkAppIdNotExist", "The SmsSdkAppId does not exist.")

        if req.get("SignName") not in cfg.sign_names:
            raise _Reject(
                "FailedOperation.SignatureIncorrectOrUnapproved",
                "The signature is not approved or does not exist.",
            )

        template_id = req.get("TemplateId")
        if not template_id:
            raise _Reject("MissingParameter", "The request is missing a required parameter `TemplateId`.")
        template = cfg.templates.get(str(template_id))
        if template is None:
            raise _Reject(
                "FailedOperation.TemplateIncorrectOrUnapproved",
                "The template is not approved or does not exist.",
            )

        params = req.get("TemplateParamSet", [])
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            raise _Reject("InvalidParameter", "TemplateParamSet must be an array of strings.")
        if len(params) != template.params:
            raise _Reject(
                "FailedOperation.TemplateParamSetNotMatchApprovedTemplate",
                f"The template takes {template.params} parameters, got {len(params)}.",
            )

        session_context = req.get("SessionContext", "")
        if not isinstance(session_context, str):
            raise _Reject("InvalidParameter", "SessionContext must be a string.")
        if len(session_context.encode("utf-8")) > MAX_SESSION_CONTEXT_BYTES:
            raise _Reject(
                "InvalidParameterValue", f"SessionContext exceeds {MAX_SESSION_CONTEXT_BYTES} bytes."
            )
        return numbers, str(template_id), params, session_context

    # --- per-number outcomes ------------------------------------------------------------------
    def _deliver(
        self,
        request_id: str,
        numbers: list[str],
        template_id: str,
        params: list[str],
        session_context: str,
        sign_name: str,
    ) -> list[dict[str, Any]]:
        cfg = self.config
        text = cfg.templates[template_id].render(params)
        shown = f"【{sign_name}】{text}"
        now = self.clock()
        received = datetime.fromtimestamp(now, BUREAU_TZ)
        day = received.date().isoformat()  # the daily limit resets at midnight Beijing time
        statuses: list[dict[str, Any]] = []
        accepted: list[tuple[str, str, str, str | None]] = []
        with self._lock:
            for number in numbers:
                phone = _eleven_digits(number)
                serial_no = ""
                if not MAINLAND_MOBILE.match(number):
                    code, message = "InvalidParameterValue.IncorrectPhoneNumber", "incorrect phone number"
                elif phone in cfg.fail_numbers:
                    code, message = cfg.fail_numbers[phone], "failure injected by the simulator"
                elif phone in cfg.blacklist:
                    code, message = "FailedOperation.PhoneNumberInBlacklist", "the number is in the blacklist"
                elif self._accepted_per_day[(phone, day)] >= cfg.daily_limit_per_number:
                    code, message = (
                        "LimitExceeded.PhoneNumberDailyLimit",
                        "the number has reached its daily message limit",
                    )
                else:
                    code, message = "Ok", "send success"
                    serial_no = f"{secrets.randbelow(9000) + 1000}:{uuid.uuid4().int % 10**28:028d}"
                    self._accepted_per_day[(phone, day)] += 1
                    accepted.append((serial_no, number, session_context, cfg.undeliverable.get(phone)))
                    self._keep(
                        {
                            "serial_no": serial_no,
                            "phone": phone,
                            "template_id": template_id,
                            "params": list(params),
                            "text": text,
                            "sign_name": sign_name,
                            "display_text": shown,
                            "session_context": session_context,
                            "received_at": received.isoformat(),
                            "request_id": request_id,
                        }
                    )
                statuses.append(
                    {
                        "SerialNo": serial_no,
                        "PhoneNumber": number,
                        "Fee": _fee(shown) if code == "Ok" else 0,
                        "SessionContext": session_context,
                        "Code": code,
                        "Message": message,
                        "IsoCode": "CN" if number.startswith("+86") else "",
                    }
                )
        self.feedback.delivered(accepted, now)
        return statuses

    def _keep(self, message: dict[str, Any]) -> None:
        # Caller holds the lock, so JSONL lines never interleave.
        self._messages.append(message)
        if self.record is not None:
            with self.record.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(message, ensure_ascii=False) + "\n")


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The default backlog (5) resets connections when many relay workers send at once: the client
    # cannot tell whether such a request arrived, so it rightly records "unknown".
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], state: GatewayState) -> None:
        super().__init__(address, _Handler)
        self.state = state

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


class _Handler(BaseHTTPRequestHandler):
    server: SimulatorServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the simulator writes nothing but its record file."""

    def _json(self, status: int, doc: Any) -> None:
        payload = json.dumps(doc, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def do_POST(self) -> None:
        body = self._body()
        path = self.path.split("?", 1)[0]
        if path == "/":
            # Tencent answers API errors with HTTP 200 and Response.Error.
            answer = self.server.state.handle(dict(self.headers.items()), body)
            if self.server.state.config.answer_delay_s:
                time.sleep(self.server.state.config.answer_delay_s)
            self._json(200, answer)
        elif path == "/_sim/reply":
            req = json.loads(body or b"{}")
            self._json(200, {"opt_out": self.server.state.reply(str(req["mobile"]), str(req["text"]))})
        elif path == "/_sim/faults":
            state = self.server.state
            state.config = SimulatorConfig.from_dict(json.loads(body or b"{}"), state.config)
            self._json(200, {"status": "ok"})
        elif path == "/_sim/reset":
            self.server.state.reset()
            self._json(200, {"status": "reset"})
        else:
            self._json(404, {"error": f"no such path {path}"})

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/_sim/messages":
            self._json(200, self.server.state.messages())
        elif path == "/_sim/health":
            self._json(200, {"status": "ok"})
        else:
            self._json(404, {"error": f"no such path {path}"})


def serve(
    config: SimulatorConfig, host: str = "127.0.0.1", port: int = 0, record: Path | str | None = None
) -> tuple[SimulatorServer, threading.Thread]:
    """Start the gateway on a background thread; ``port=0`` picks a free port (see ``server.url``)."""
    state = GatewayState(config, Path(record) if record is not None else None)
    server = SimulatorServer((host, port), state)
    # A short poll interval keeps shutdown() (every test teardown) quick.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="sms-simulator", daemon=True
    )
    thread.start()
    return server, thread


class SimulatorHandle:
    """Talks to a running simulator over HTTP; owns it when started in-process via ``start``."""

    def __init__(
        self, url: str, server: SimulatorServer | None = None, thread: threading.Thread | None = None
    ) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.server = server
        self.thread = thread

    @classmethod
    def start(
        cls,
        config: SimulatorConfig,
        host: str = "127.0.0.1",
        port: int = 0,
        record: Path | str | None = None,
    ) -> SimulatorHandle:
        server, thread = serve(config, host, port, record)
        return cls(server.url, server, thread)

    @property
    def state(self) -> GatewayState:
        if self.server is None:
            raise RuntimeError("state is only reachable for an in-process simulator")
        return self.server.state

    def messages(self) -> list[dict[str, Any]]:
        response = requests.get(self.url + "_sim/messages", timeout=5)
        response.raise_for_status()
        return list(response.json())

    def reset(self) -> None:
        requests.post(self.url + "_sim/reset", timeout=5).raise_for_status()

    def reply(self, mobile: str, text: str) -> bool:
        """A taxpayer answers by text; True when the gateway took it as an opt-out."""
        r = requests.post(self.url + "_sim/reply", json={"mobile": mobile, "text": text}, timeout=5)
        r.raise_for_status()
        return bool(r.json()["opt_out"])

    def drain_feedback(self, timeout_s: float = 10.0) -> bool:
        """Wait until every receipt and reply was pushed to the callbacks (in-process only)."""
        return self.state.feedback.drain(timeout_s)

    def healthy(self) -> bool:
        try:
            return requests.get(self.url + "_sim/health", timeout=2).status_code == 200
        except requests.exceptions.RequestException:
            return False

    def close(self) -> None:
        if self.server is not None:
            self.server.state.feedback.close()
            self.server.shutdown()
            self.server.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)

    def __enter__(self) -> SimulatorHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Loopback Tencent Cloud SMS (SendSms 2021-01-11) simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--config", type=Path, help="JSON config; absent keys use default_config()")
    parser.add_argument("--record", type=Path, help="append accepted messages to this JSONL file")
    parser.add_argument("--status-callback", help="URL the delivery receipts are POSTed to")
    parser.add_argument("--reply-callback", help="URL the replies are POSTed to")
    args = parser.parse_args(argv)

    config = load_config(args.config) if args.config else default_config()
    if args.status_callback or args.reply_callback:
        config = SimulatorConfig.from_dict(
            {"status_callback_url": args.status_callback, "reply_callback_url": args.reply_callback}, config
        )
    server, thread = serve(config, args.host, args.port, args.record)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1.0):  # wake regularly so the signal handler gets to run
        pass
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
