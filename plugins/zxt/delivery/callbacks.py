"""Our callback receiver: what the providers push (``zxt feedback serve``; behind the bureau's
reverse proxy in production).

- ``POST /sms/status`` — Tencent's status reports, a JSON array; answered ``{"result":0,"errmsg":"OK"}``.
- ``POST /sms/reply`` — one reply, a JSON object; an opt-out is suppressed before we answer.
- ``GET /wechat`` — WeChat's server check (signature, then echo ``echostr``).
- ``POST /wechat`` — WeChat's XML events, signed; ``TEMPLATESENDJOBFINISH`` is a receipt. Answered
  ``success`` (anything else makes WeChat retry).

Every request is recorded in one transaction, then settles what it can; a push we cannot store is
answered with an error so the provider tries again (recording is idempotent).
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa

from zxt.core.settings import Settings, get_settings
from zxt.delivery import receipts, replies
from zxt.delivery.channels.wechat import event_signature
from zxt.warehouse import migrate
from zxt.warehouse import server as warehouse

log = logging.getLogger(__name__)

MAX_BODY = 1 << 20  # a status push carries at most a few hundred reports
SMS_OK = {"result": 0, "errmsg": "OK"}


class BadRequest(ValueError):
    pass


class Receiver:
    """The request handling, independent of HTTP."""

    def __init__(self, engine: sa.Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    def now(self):
        return self.settings.clock.now()

    def sms_status(self, body: bytes) -> dict[str, Any]:
        try:
            items = json.loads(body.decode("utf-8"))
            if not isinstance(items, list):
                raise BadRequest("expected a JSON array of status reports")
            parsed = receipts.from_sms_callback(items)
        except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise BadRequest(f"unreadable status reports: {type(exc).__name__}") from exc
        with self.engine.begin() as conn:
            receipts.record(conn, parsed, "callback")
            receipts.apply(conn, self.now(), only=parsed)
        return SMS_OK

    def sms_reply(self, body: bytes) -> dict[str, Any]:
        try:
            doc = json.loads(body.decode("utf-8"))
            if not isinstance(doc, dict):
                raise BadRequest("expected a JSON object")
            reply = replies.from_callback(doc)
        except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise BadRequest(f"unreadable reply: {type(exc).__name__}") from exc
        with self.engine.begin() as conn:
            replies.record(conn, [reply], "callback")
        return SMS_OK

    def wechat_signed(self, query: str) -> dict[str, str]:
        q = {k: v[0] for k, v in parse_qs(query).items()}
        expected = event_signature(
            self.settings.wechat.callback_token, q.get("timestamp", ""), q.get("nonce", "")
        )
        if not hmac.compare_digest(expected, q.get("signature", "")):
            raise PermissionError("WeChat signature does not match")
        return q

    def wechat_event(self, query: str, body: bytes) -> str:
        self.wechat_signed(query)
        if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
            raise BadRequest("DTDs are not accepted")  # no entity expansion from the network
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            raise BadRequest("unreadable XML") from exc

        def text(tag: str) -> str:
            return (root.findtext(tag) or "").strip()

        if text("MsgType") == "event" and text("Event") == "TEMPLATESENDJOBFINISH":
            try:
                receipt = receipts.from_wechat_event(
                    text("MsgID"), text("Status"), int(text("CreateTime") or 0), text("FromUserName")
                )
            except ValueError as exc:
                raise BadRequest("unreadable TEMPLATESENDJOBFINISH event") from exc
            with self.engine.begin() as conn:
                receipts.record(conn, [receipt], "callback")
                receipts.apply(conn, self.now(), only=[receipt])
        return "success"  # other events (follow, unfollow, menu clicks) are not ours to handle here


class CallbackServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], receiver: Receiver) -> None:
        super().__init__(address, _Handler)
        self.receiver = receiver

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: CallbackServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: paths only at debug level; bodies carry personal data."""
        log.debug("callback %s", self.path.split("?", 1)[0])

    def _send(self, status: int, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _json(self, status: int, doc: Any) -> None:
        self._send(status, json.dumps(doc, ensure_ascii=False).encode("utf-8"), "application/json")

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path == "/wechat":
            try:
                q = self.server.receiver.wechat_signed(parts.query)
            except PermissionError:
                self._send(403, b"signature mismatch", "text/plain")
                return
            self._send(200, q.get("echostr", "").encode("utf-8"), "text/plain")
        elif parts.path == "/health":
            self._json(200, {"status": "ok"})
        else:
            self._json(404, {"error": "no such path"})

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._json(413, {"result": 1, "errmsg": "body too large"})
            return
        body = self.rfile.read(length) if length > 0 else b""
        r = self.server.receiver
        try:
            if parts.path == "/sms/status":
                self._json(200, r.sms_status(body))
            elif parts.path == "/sms/reply":
                self._json(200, r.sms_reply(body))
            elif parts.path == "/wechat":
                self._send(200, r.wechat_event(parts.query, body).encode("utf-8"), "text/plain")
            else:
                self._json(404, {"result": 1, "errmsg": "no such path"})
        except BadRequest as exc:
            log.warning("callback %s refused: %s", parts.path, exc)
            self._json(400, {"result": 1, "errmsg": str(exc)})
        except PermissionError as exc:
            log.warning("callback %s refused: %s", parts.path, exc)
            self._send(403, b"signature mismatch", "text/plain")
        except sa.exc.SQLAlchemyError:
            # The provider retries: nothing is lost while the warehouse is away.
            log.exception("callback %s: could not record", parts.path)
            self._json(503, {"result": 1, "errmsg": "temporarily unavailable"})


def serve(
    settings: Settings | None = None, host: str | None = None, port: int | None = None
) -> tuple[CallbackServer, threading.Thread]:
    """Start the receiver on a background thread (``port=0``: any free port)."""
    settings = settings or get_settings()
    engine = warehouse.engine(settings, role="delivery")
    migrate.ensure_current(engine)
    server = CallbackServer(
        (host or settings.feedback.callback_host, settings.feedback.callback_port if port is None else port),
        Receiver(engine, settings),
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="zxt-callbacks", daemon=True
    )
    thread.start()
    return server, thread
