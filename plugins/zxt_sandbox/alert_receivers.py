"""Loopback stand-ins for where alerts go: a WeCom (企业微信) group robot webhook and an SMTP server.

The webhook answers as the robot does (``POST /cgi-bin/webhook/send?key=…`` with a JSON ``text`` or
``markdown`` message → ``{"errcode": 0, "errmsg": "ok"}``; a wrong key or a malformed message gets
the robot's error codes). The SMTP server speaks enough RFC 5321 for smtplib (EHLO/HELO, MAIL,
RCPT, DATA, RSET, NOOP, QUIT). Both record what they accept as JSON lines, for the demo and tests.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import json
import signal
import threading
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

WEBHOOK_PATH = "/cgi-bin/webhook/send"
DEFAULT_KEY = "zxt-local-robot"
MAX_MARKDOWN = 4096  # bytes, the robot's limit


class _Recorder:
    def __init__(self, record: Path | None) -> None:
        self.record = record
        self.items: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def add(self, item: dict[str, Any]) -> None:
        with self.lock:
            self.items.append(item)
            if self.record is not None:
                self.record.parent.mkdir(parents=True, exist_ok=True)
                with self.record.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(item, ensure_ascii=False) + "\n")


class WebhookServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], key: str, recorder: _Recorder) -> None:
        super().__init__(address, _WebhookHandler)
        self.key = key
        self.recorder = recorder

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}{WEBHOOK_PATH}?key={self.key}"


class _WebhookHandler(BaseHTTPRequestHandler):
    server: WebhookServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _answer(self, errcode: int, errmsg: str) -> None:
        body = json.dumps({"errcode": errcode, "errmsg": errmsg}).encode()
        self.send_response(200)  # the robot answers 200 with an errcode, like the real one
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != WEBHOOK_PATH:
            self.send_error(404)
            return
        if parse_qs(parts.query).get("key", [""])[0] != self.server.key:
            self._answer(93000, "invalid webhook url")
            return
        try:
            doc = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        except ValueError:
            self._answer(40016, "invalid json")
            return
        kind = doc.get("msgtype")
        content = (doc.get(kind) or {}).get("content") if kind in {"text", "markdown"} else None
        if not isinstance(content, str) or not content:
            self._answer(40008, "invalid message type or empty content")
            return
        if len(content.encode()) > MAX_MARKDOWN:
            self._answer(40058, "content exceed max length")
            return
        self.server.recorder.add({"msgtype": kind, "content": content})
        self._answer(0, "ok")

    def do_GET(self) -> None:  # for tests and the demo: what was received
        if urlsplit(self.path).path == "/_sim/messages":
            body = json.dumps(self.server.recorder.items, ensure_ascii=False).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_error(404)


class SmtpServer:
    """A minimal SMTP receiver on asyncio, in a thread of its own."""

    def __init__(self, host: str, port: int, recorder: _Recorder) -> None:
        self.host, self.port, self.recorder = host, port, recorder
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name="smtp-receiver", daemon=True)
        self.server: asyncio.base_events.Server | None = None

    def start(self) -> SmtpServer:
        self.thread.start()
        self.ready.wait(10)
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._session, self.host, self.port))
        self.port = self.server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()

    def stop(self) -> None:
        def _close() -> None:
            if self.server is not None:
                self.server.close()
            self.loop.stop()

        self.loop.call_soon_threadsafe(_close)
        self.thread.join(timeout=5)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def say(line: str) -> None:
            writer.write((line + "\r\n").encode())
            await writer.drain()

        sender, rcpts = "", []
        await say("220 zxt-local-smtp ESMTP")
        try:
            while line := await reader.readline():
                cmd = line.decode(errors="replace").strip()
                verb = cmd.split(" ", 1)[0].upper()
                if verb == "EHLO":
                    await say("250-zxt-local-smtp")
                    await say("250 8BITMIME")
                elif verb == "HELO":
                    await say("250 zxt-local-smtp")
                elif verb == "MAIL" and cmd.upper().startswith("MAIL FROM:"):
                    sender, rcpts = cmd[10:].strip().split(" ")[0].strip("<>"), []
                    await say("250 OK")
                elif verb == "RCPT" and cmd.upper().startswith("RCPT TO:"):
                    if not sender:
                        await say("503 need MAIL first")
                        continue
                    rcpts.append(cmd[8:].strip().strip("<>"))
                    await say("250 OK")
                elif verb == "DATA":
                    if not rcpts:
                        await say("503 need RCPT first")
                        continue
                    await say("354 end with <CRLF>.<CRLF>")
                    data = bytearray()
                    while (chunk := await reader.readline()) not in (b".\r\n", b".\n", b""):
                        data += chunk[1:] if chunk.startswith(b"..") else chunk
                    msg = email.message_from_bytes(bytes(data), policy=policy.default)
                    self.recorder.add(
                        {
                            "from": sender,
                            "to": rcpts,
                            "subject": str(msg["Subject"] or ""),
                            "body": msg.get_body(("plain",)).get_content()
                            if msg.get_body(("plain",))
                            else "",
                        }
                    )
                    sender, rcpts = "", []
                    await say("250 OK queued")
                elif verb == "RSET":
                    sender, rcpts = "", []
                    await say("250 OK")
                elif verb == "NOOP":
                    await say("250 OK")
                elif verb == "QUIT":
                    await say("221 bye")
                    break
                else:
                    await say("502 command not implemented")
        finally:
            writer.close()


class Receivers:
    """Both receivers in this process (tests), or in the background process of `zxt airflow up`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        webhook_port: int = 0,
        smtp_port: int = 0,
        record_dir: Path | None = None,
    ) -> None:
        self.webhook_rec = _Recorder(record_dir / "wecom.jsonl" if record_dir else None)
        self.mail_rec = _Recorder(record_dir / "mail.jsonl" if record_dir else None)
        self.webhook = WebhookServer((host, webhook_port), DEFAULT_KEY, self.webhook_rec)
        self._thread = threading.Thread(
            target=self.webhook.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self.smtp = SmtpServer(host, smtp_port, self.mail_rec).start()

    @property
    def env(self) -> dict[str, str]:
        """The zxt settings that send alerts here."""
        return {
            "ZXT_ALERT_WECOM_URL": self.webhook.url,
            "ZXT_ALERT_SMTP_HOST": self.smtp.host,
            "ZXT_ALERT_SMTP_PORT": str(self.smtp.port),
        }

    @property
    def robot_messages(self) -> list[dict[str, Any]]:
        return list(self.webhook_rec.items)

    @property
    def mails(self) -> list[dict[str, Any]]:
        return list(self.mail_rec.items)

    def close(self) -> None:
        self.webhook.shutdown()
        self.webhook.server_close()
        self.smtp.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Loopback WeCom robot webhook and SMTP server for alerts")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--webhook-port", type=int, default=18090)
    parser.add_argument("--smtp-port", type=int, default=18025)
    parser.add_argument(
        "--record-dir", type=Path, help="append received alerts to wecom.jsonl / mail.jsonl here"
    )
    args = parser.parse_args(argv)
    receivers = Receivers(args.host, args.webhook_port, args.smtp_port, args.record_dir)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass
    receivers.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
