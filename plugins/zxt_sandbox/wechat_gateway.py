"""A loopback WeChat official-account API for the demo and the tests.

It speaks the real protocol: ``POST /cgi-bin/stable_token`` (the same token while it is valid,
a new one on ``force_refresh``), ``POST /cgi-bin/message/template/send?access_token=…`` checked for
the token, an approved template id, exactly the template's data keys, values ≤ 20 characters
without line breaks, an openid that follows the account, and ``client_msg_id`` de-duplication
(10 minutes). Each accepted message produces a ``TEMPLATESENDJOBFINISH`` event, signed like
WeChat's and POSTed as XML to the configured callback URL.

Faults, by openid or for the next requests: 43004 not a follower, 43101 refused, 45009 daily quota,
-1 busy, an expired token (40001 / 42001), slow answers; a follower who blocked the account gets a
``failed:user block`` event. Inspect ``GET /_sim/messages``; change faults with ``POST /_sim/faults``.

Run: ``python -m zxt_sandbox.wechat_gateway --port 18081 --callback http://127.0.0.1:18082/wechat``.
"""

from __future__ import annotations

import argparse
import csv
import json
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
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from zxt.core.settings import BUREAU_TZ, Settings, get_settings
from zxt.delivery.channels.wechat import MAX_VALUE_CHARS, event_signature
from zxt_sandbox.callback_push import CallbackPusher

TOKEN_TTL_S = 7200
DEDUP_WINDOW_S = 600  # client_msg_id de-duplicates for 10 minutes
OPENID = re.compile(r"^o[A-Za-z0-9_-]{27}$")
ACCOUNT = "gh_zxt0guangshui"

ERRMSG = {
    40001: "invalid credential, access_token is invalid or not latest",
    40003: "invalid openid",
    40013: "invalid appid",
    40037: "invalid template_id",
    40125: "invalid appsecret",
    41001: "access_token missing",
    42001: "access_token expired",
    43004: "require subscribe",
    43101: "user refuse to accept the msg",
    45009: "reach max api daily quota limit",
    47001: "data format error",
    47003: "argument invalid!",
    -1: "system error",
}


@dataclass
class WeChatConfig:
    app_id: str
    secret: str
    templates: dict[str, list[str]]  # template id -> data keys
    callback_url: str | None = None
    callback_token: str = ""
    # None: every well-formed openid follows, except those in not_following.
    followers: set[str] | None = None
    not_following: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)  # 43101
    blocked: set[str] = field(default_factory=set)  # accepted, then "failed:user block"
    system_failed: set[str] = field(default_factory=set)  # accepted, then "failed: system failed"
    fail_openids: dict[str, int] = field(default_factory=dict)  # openid -> forced errcode
    daily_quota: int | None = None  # 45009 once this many were accepted today
    busy_next: int = 0  # the next N sends answer -1
    slow_s: float = 0.0  # every send answers after this long (accepted first)
    slow_openids: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base: WeChatConfig | None = None) -> WeChatConfig:
        base = base or default_config()
        merged = {**base.to_dict(), **data}
        return cls(
            app_id=str(merged["app_id"]),
            secret=str(merged["secret"]),
            templates={str(k): list(v) for k, v in merged["templates"].items()},
            callback_url=merged.get("callback_url") or None,
            callback_token=str(merged.get("callback_token") or ""),
            followers=None if merged.get("followers") is None else set(merged["followers"]),
            not_following=set(merged.get("not_following", [])),
            refused=set(merged.get("refused", [])),
            blocked=set(merged.get("blocked", [])),
            system_failed=set(merged.get("system_failed", [])),
            fail_openids={str(k): int(v) for k, v in merged.get("fail_openids", {}).items()},
            daily_quota=merged.get("daily_quota"),
            busy_next=int(merged.get("busy_next", 0)),
            slow_s=float(merged.get("slow_s", 0.0)),
            slow_openids={str(k): float(v) for k, v in merged.get("slow_openids", {}).items()},
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "app_id": self.app_id,
            "secret": self.secret,
            "templates": self.templates,
            "callback_url": self.callback_url,
            "callback_token": self.callback_token,
            "followers": None if self.followers is None else sorted(self.followers),
            "not_following": sorted(self.not_following),
            "refused": sorted(self.refused),
            "blocked": sorted(self.blocked),
            "system_failed": sorted(self.system_failed),
            "fail_openids": dict(self.fail_openids),
            "daily_quota": self.daily_quota,
            "busy_next": self.busy_next,
            "slow_s": self.slow_s,
            "slow_openids": dict(self.slow_openids),
        }


def _seed_templates(seed: Path) -> dict[str, list[str]]:
    with seed.open(encoding="utf-8", newline="") as fh:
        return {
            row["provider_template_id"].strip(): [k for k in (row.get("provider_keys") or "").split("|") if k]
            for row in csv.DictReader(fh)
            if row.get("channel") == "wechat" and row.get("provider_template_id")
        }


def default_config(settings: Settings | None = None, callback_url: str | None = None) -> WeChatConfig:
    """The app id and secret of the Settings defaults; approved templates from the dbt seed."""
    s = settings or get_settings()
    seed = s.paths.dbt_project_dir / "seeds" / "message_templates.csv"
    return WeChatConfig(
        app_id=s.wechat.app_id,
        secret=s.wechat.app_secret,
        templates=_seed_templates(seed) if seed.exists() else {},
        callback_url=callback_url,
        callback_token=s.wechat.callback_token,
    )


class _Error(Exception):
    def __init__(self, code: int, detail: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail

    def doc(self) -> dict[str, Any]:
        msg = ERRMSG.get(self.code, "error") + (f" {self.detail}" if self.detail else "")
        return {"errcode": self.code, "errmsg": f"{msg} rid: {uuid.uuid4().hex[:24]}"}


class WeChatState:
    """Tokens, sent messages and faults; thread-safe and independent of HTTP."""

    def __init__(self, config: WeChatConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}  # token -> expires at
        self._current: str | None = None
        self._expired: set[str] = set()
        self._messages: list[dict[str, Any]] = []
        self._dedup: dict[tuple[str, str], tuple[int, float]] = {}
        self._per_day: Counter[str] = Counter()
        self.token_fetches = 0
        self.pusher = CallbackPusher("wechat") if config.callback_url else None

    # --- inspection and faults ----------------------------------------------------------------
    def messages(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._messages)

    def reset(self) -> None:
        with self._lock:
            self._messages.clear()
            self._dedup.clear()
            self._per_day.clear()

    def expire_token(self) -> None:
        """The current token stops working (as when WeChat rotates it early): sends get 42001."""
        with self._lock:
            if self._current:
                self._expired.add(self._current)
                self._tokens.pop(self._current, None)

    def set_faults(self, data: Mapping[str, Any]) -> None:
        with self._lock:
            self.config = WeChatConfig.from_dict(data, self.config)

    # --- API ----------------------------------------------------------------------------------
    def stable_token(self, body: bytes) -> dict[str, Any]:
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            return _Error(47001).doc()
        if req.get("grant_type") != "client_credential":
            return {"errcode": 40002, "errmsg": "invalid grant_type"}
        if req.get("appid") != self.config.app_id:
            return _Error(40013).doc()
        if req.get("secret") != self.config.secret:
            return _Error(40125).doc()
        now = self.clock()
        with self._lock:
            self.token_fetches += 1
            current = self._current
            if req.get("force_refresh") or current is None or self._tokens.get(current, 0) <= now:
                current = secrets.token_urlsafe(96)
                self._tokens[current] = now + TOKEN_TTL_S
                self._current = current
            return {"access_token": current, "expires_in": int(self._tokens[current] - now)}

    def template_send(self, query: str, body: bytes) -> tuple[dict[str, Any], float]:
        """The answer, and how long to hold it back (an injected slow response)."""
        token = (parse_qs(query).get("access_token") or [""])[0]
        try:
            with self._lock:
                doc, delay = self._send(token, body)
        except _Error as err:
            return err.doc(), 0.0
        return doc, delay

    def _send(self, token: str, body: bytes) -> tuple[dict[str, Any], float]:
        cfg, now = self.config, self.clock()
        if not token:
            raise _Error(41001)
        if token in self._expired or (token in self._tokens and self._tokens[token] <= now):
            raise _Error(42001)
        if token not in self._tokens:
            raise _Error(40001)
        try:
            req = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise _Error(47001) from exc
        if cfg.busy_next > 0:
            cfg.busy_next -= 1
            raise _Error(-1)
        openid = req.get("touser")
        if not isinstance(openid, str) or not OPENID.match(openid):
            raise _Error(40003)
        keys = cfg.templates.get(str(req.get("template_id")))
        if keys is None:
            raise _Error(40037)
        data = req.get("data")
        if not isinstance(data, dict) or sorted(data) != sorted(keys):
            raise _Error(47003, "data keys do not match the template")
        values: dict[str, str] = {}
        for key in keys:
            value = data[key].get("value") if isinstance(data[key], dict) else None
            if not isinstance(value, str) or len(value) > MAX_VALUE_CHARS or "\n" in value or "\r" in value:
                raise _Error(47003, f"data.{key}.value invalid")
            values[key] = value
        if openid in cfg.fail_openids:
            raise _Error(cfg.fail_openids[openid])
        if openid in cfg.not_following or (cfg.followers is not None and openid not in cfg.followers):
            raise _Error(43004)
        if openid in cfg.refused:
            raise _Error(43101)
        day = datetime.fromtimestamp(now, BUREAU_TZ).date().isoformat()  # quota resets at midnight
        client_msg_id = req.get("client_msg_id")
        delay = cfg.slow_openids.get(openid, cfg.slow_s)
        if client_msg_id:
            seen = self._dedup.get((openid, str(client_msg_id)))
            if seen is not None and now - seen[1] < DEDUP_WINDOW_S:
                return {"errcode": 0, "errmsg": "ok", "msgid": seen[0]}, delay
        if cfg.daily_quota is not None and self._per_day[day] >= cfg.daily_quota:
            raise _Error(45009)
        msgid = int.from_bytes(secrets.token_bytes(7), "big")
        self._per_day[day] += 1
        if client_msg_id:
            self._dedup[(openid, str(client_msg_id))] = (msgid, now)
        status = (
            "failed:user block"
            if openid in cfg.blocked
            else "failed: system failed"
            if openid in cfg.system_failed
            else "success"
        )
        self._messages.append(
            {
                "msgid": msgid,
                "openid": openid,
                "template_id": str(req["template_id"]),
                "values": values,
                "client_msg_id": client_msg_id,
                "status": status,
                "received_at": datetime.fromtimestamp(now, BUREAU_TZ).isoformat(),
            }
        )
        self._push_event(openid, msgid, status, int(now))
        return {"errcode": 0, "errmsg": "ok", "msgid": msgid}, delay

    def _push_event(self, openid: str, msgid: int, status: str, created: int) -> None:
        if self.pusher is None or not self.config.callback_url:
            return
        xml = (
            f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{created}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>{msgid}</MsgID>"
            f"<Status><![CDATA[{status}]]></Status></xml>"
        )
        timestamp, nonce = str(created), str(secrets.randbelow(10**9))
        query = urlencode(
            {
                "signature": event_signature(self.config.callback_token, timestamp, nonce),
                "timestamp": timestamp,
                "nonce": nonce,
                "openid": openid,
            }
        )
        sep = "&" if "?" in self.config.callback_url else "?"
        self.pusher.push(f"{self.config.callback_url}{sep}{query}", xml.encode("utf-8"), "text/xml")


class WeChatServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: WeChatState) -> None:
        super().__init__(address, _Handler)
        self.state = state

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up on a slow answer closed the connection: nothing to report."""


class _Handler(BaseHTTPRequestHandler):
    server: WeChatServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Silent."""

    def _json(self, status: int, doc: Any) -> None:
        payload = json.dumps(doc, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; encoding=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        state = self.server.state
        if parts.path == "/cgi-bin/stable_token":
            self._json(200, state.stable_token(body))
        elif parts.path == "/cgi-bin/message/template/send":
            doc, delay = state.template_send(parts.query, body)
            if delay:
                time.sleep(delay)
            self._json(200, doc)
        elif parts.path == "/_sim/reset":
            state.reset()
            self._json(200, {"status": "reset"})
        elif parts.path == "/_sim/expire_token":
            state.expire_token()
            self._json(200, {"status": "expired"})
        elif parts.path == "/_sim/faults":
            state.set_faults(json.loads(body or b"{}"))
            self._json(200, {"status": "ok"})
        else:
            self._json(404, {"errcode": 404, "errmsg": f"no such path {parts.path}"})

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/_sim/messages":
            self._json(200, self.server.state.messages())
        elif path == "/_sim/health":
            self._json(200, {"status": "ok"})
        else:
            self._json(404, {"errcode": 404, "errmsg": f"no such path {path}"})


class WeChatHandle:
    """A simulator started in-process (tests) or reached over HTTP."""

    def __init__(self, url: str, server: WeChatServer | None = None, thread: threading.Thread | None = None):
        self.url = url.rstrip("/")
        self.server = server
        self.thread = thread

    @classmethod
    def start(cls, config: WeChatConfig, host: str = "127.0.0.1", port: int = 0) -> WeChatHandle:
        server = WeChatServer((host, port), WeChatState(config))
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="wechat-simulator", daemon=True
        )
        thread.start()
        return cls(server.url, server, thread)

    @property
    def state(self) -> WeChatState:
        if self.server is None:
            raise RuntimeError("state is only reachable for an in-process simulator")
        return self.server.state

    def messages(self) -> list[dict[str, Any]]:
        r = requests.get(self.url + "/_sim/messages", timeout=5)
        r.raise_for_status()
        return list(r.json())

    def drain_events(self, timeout_s: float = 10.0) -> bool:
        pusher = self.state.pusher
        return True if pusher is None else pusher.drain(timeout_s)

    def close(self) -> None:
        if self.server is not None:
            if self.server.state.pusher is not None:
                self.server.state.pusher.close()
            self.server.shutdown()
            self.server.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)

    def __enter__(self) -> WeChatHandle:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Loopback WeChat official-account API simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18081)
    parser.add_argument("--callback", help="URL the TEMPLATESENDJOBFINISH events are POSTed to")
    parser.add_argument("--config", type=Path, help="JSON: faults and followers (absent keys: defaults)")
    parser.add_argument("--record", type=Path, help="write the accepted messages here (JSON) on exit")
    args = parser.parse_args(argv)

    config = default_config(callback_url=args.callback)
    if args.config:
        config = WeChatConfig.from_dict(json.loads(args.config.read_text(encoding="utf-8")), config)
    handle = WeChatHandle.start(config, args.host, args.port)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1.0):
        if args.record:
            args.record.write_text(json.dumps(handle.state.messages(), ensure_ascii=False), encoding="utf-8")
    if args.record:
        args.record.write_text(json.dumps(handle.state.messages(), ensure_ascii=False), encoding="utf-8")
    handle.drain_events(5)
    handle.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
