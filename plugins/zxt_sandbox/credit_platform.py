"""A loopback city credit-sharing platform (信用信息共享平台) API for the demo and the tests.

The protocol the product's client speaks (``zxt.ingest.platform_client``):

- ``POST /oauth/token`` with JSON ``{"client_id", "client_secret"}`` → ``{"access_token",
  "token_type": "Bearer", "expires_in"}``; wrong credentials → 401 ``invalid_client``.
- ``GET /api/v1/datasets/<name>/records?business_date=YYYY-MM-DD&page_size=N[&cursor=C]`` with
  ``Authorization: Bearer <token>`` → ``{"dataset", "business_date", "schema_version", "records",
  "next_cursor"}`` (``next_cursor`` null on the last page). Errors: 401 ``invalid_token`` (missing or
  expired token), 404 unknown dataset, 400 bad parameters, 410 ``cursor_expired``, 429 with
  ``Retry-After`` (seconds), 5xx.

Records come from the synthetic county (``zxt_sandbox.synth.external``), so a pull agrees with the
generated landing zone. Faults are injected per server (``Faults``; also ``POST /_sim/faults``):
slow pages, every n-th request answered 429 or 503, a cursor that expires after n pages (once),
records repeated across page boundaries, a schema change (fields added or renamed).
``GET /_sim/stats`` counts requests by outcome.

Run: ``python -m zxt_sandbox.credit_platform --port 18090 --enterprises 15000 --start D1 --end D2``.
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import signal
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from zxt.ingest import contracts
from zxt_sandbox.synth.county import _county
from zxt_sandbox.synth.enterprise import _enterprise
from zxt_sandbox.synth.external import EXTERNAL, rows, story

CLIENT_ID = "zxt-guangshui"
CLIENT_SECRET = "zxt-platform-local-secret"
MAX_PAGE = 5000
SCHEMA_VERSION = 1


@dataclass
class Faults:
    slow_page_s: float = 0.0  # every records page waits this long before answering
    rate_limit_every: int = 0  # every n-th records request: 429 with Retry-After
    retry_after_s: int = 1
    error_every: int = 0  # every n-th records request: 503
    expire_cursor_after_pages: int = 0  # the first cursor handed out after n pages expires (once)
    duplicate_overlap: int = 0  # each page repeats the last n records of the previous page
    add_fields: dict[str, str] = field(default_factory=dict)  # schema change: extra field → value
    rename_fields: dict[str, str] = field(default_factory=dict)  # schema change: old name → new
    token_ttl_s: int = 3600


class PlatformState:
    def __init__(
        self, enterprises: int, seed: int, start: date, end: date, faults: Faults | None = None
    ) -> None:
        self.faults = faults or Faults()
        self.stats: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}
        self._cursors: dict[str, tuple[str, str, int]] = {}  # cursor → dataset, date, offset
        self._expired_once = False
        self._records_requests = 0
        self._cache: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._county = _county(seed, start, end, 3)
        self._enterprises = enterprises
        self._firms_cache: list | None = None  # drawn on first use: the server answers at once
        self._by_platform = {ds.pull: ds for ds in contracts.load_contracts().values() if ds.pull}

    def set_faults(self, faults: Faults) -> None:
        with self._lock:
            self.faults = faults
            self._expired_once = False
            self._records_requests = 0

    # --- protocol ------------------------------------------------------------------------------
    def token(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        if body.get("client_id") != CLIENT_ID or body.get("client_secret") != CLIENT_SECRET:
            self.stats["token_refused"] += 1
            return 401, {"error": "invalid_client"}, {}
        tok = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[tok] = time.monotonic() + self.faults.token_ttl_s
        self.stats["token"] += 1
        return 200, {"access_token": tok, "token_type": "Bearer", "expires_in": self.faults.token_ttl_s}, {}

    def records(
        self, name: str, query: dict[str, str], auth: str
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        tok = auth.removeprefix("Bearer ").strip()
        with self._lock:
            valid = self._tokens.get(tok, 0) > time.monotonic()
            self._records_requests += 1
            n = self._records_requests
            f = self.faults
        if not valid:
            self.stats["401"] += 1
            return 401, {"error": "invalid_token"}, {}
        if f.rate_limit_every and n % f.rate_limit_every == 0:
            self.stats["429"] += 1
            return 429, {"error": "rate_limited"}, {"Retry-After": str(f.retry_after_s)}
        if f.error_every and n % f.error_every == 0:
            self.stats["503"] += 1
            return 503, {"error": "unavailable"}, {}
        ds = self._by_platform.get(name)
        if ds is None:
            return 404, {"error": "unknown_dataset", "known": sorted(self._by_platform)}, {}
        try:
            day = date.fromisoformat(query.get("business_date", ""))
            size = int(query.get("page_size", "1000"))
        except ValueError:
            return (
                400,
                {"error": "bad_request", "detail": "business_date YYYY-MM-DD and integer page_size"},
                {},
            )
        if not 1 <= size <= MAX_PAGE:
            return 400, {"error": "bad_request", "detail": f"page_size 1..{MAX_PAGE}"}, {}
        offset = 0
        if cursor := query.get("cursor"):
            with self._lock:
                state = self._cursors.pop(cursor, None)
            if state is None or state[:2] != (name, day.isoformat()):
                self.stats["410"] += 1
                return 410, {"error": "cursor_expired", "detail": "restart the pull without a cursor"}, {}
            offset = state[2]
        if f.slow_page_s:
            time.sleep(f.slow_page_s)
        data = self._data(ds, day)
        begin = max(0, offset - f.duplicate_overlap) if offset else 0
        page = data[begin : offset + size]
        nxt = offset + size
        next_cursor = None
        if nxt < len(data):
            next_cursor = base64.urlsafe_b64encode(secrets.token_bytes(12)).decode()
            with self._lock:
                expire = (
                    f.expire_cursor_after_pages
                    and not self._expired_once
                    and nxt // size >= f.expire_cursor_after_pages
                )
                if expire:
                    self._expired_once = True  # handed out, never stored: the next call gets 410
                else:
                    self._cursors[next_cursor] = (name, day.isoformat(), nxt)
        self.stats["page"] += 1
        return (
            200,
            {
                "dataset": name,
                "business_date": day.isoformat(),
                "schema_version": SCHEMA_VERSION + bool(f.add_fields or f.rename_fields),
                "records": [self._shape(r, f) for r in page],
                "next_cursor": next_cursor,
            },
            {},
        )

    @property
    def _firms(self) -> list:
        with self._lock:
            if self._firms_cache is None:
                firms = (_enterprise(self._county, i) for i in range(self._enterprises))
                self._firms_cache = [(e, story(self._county, e)) for e in firms]
            return self._firms_cache

    def _data(self, ds: contracts.Dataset, day: date) -> list[dict[str, Any]]:
        key = (ds.name, day.isoformat())
        if key not in self._cache:
            out = []
            for e, s in self._firms:
                for row in rows(self._county, e, s, ds.name, day, history=False):
                    out.append({c.name: _typed(c.type, v) for c, v in zip(ds.columns, row, strict=True)})
            self._cache[key] = out
        return self._cache[key]

    @staticmethod
    def _shape(record: dict[str, Any], f: Faults) -> dict[str, Any]:
        if not (f.add_fields or f.rename_fields):
            return record
        out = {f.rename_fields.get(k, k): v for k, v in record.items()}
        out.update(f.add_fields)
        return out


def _typed(kind: str, value: str) -> Any:
    """JSON as such an API sends it: numbers as numbers, empty as null."""
    if value == "":
        return None
    if kind == "int":
        return int(value)
    if kind == "numeric":
        return float(value)
    return value


class PlatformServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: PlatformState) -> None:
        super().__init__(address, _Handler)
        self.state = state

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


class _Handler(BaseHTTPRequestHandler):
    server: PlatformServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, doc: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(doc, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json_body(self) -> dict[str, Any]:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            doc = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            return {}
        return doc if isinstance(doc, dict) else {}

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path == "/oauth/token":
            self._send(*self.server.state.token(self._json_body()))
        elif path == "/_sim/faults":
            self.server.state.set_faults(Faults(**self._json_body()))
            self._send(200, asdict(self.server.state.faults))
        else:
            self._send(404, {"error": "not_found"})

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if url.path == "/_sim/stats":
            self._send(200, dict(self.server.state.stats))
        elif len(parts) == 5 and parts[:3] == ["api", "v1", "datasets"] and parts[4] == "records":
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            self._send(*self.server.state.records(parts[3], query, self.headers.get("Authorization", "")))
        else:
            self._send(404, {"error": "not_found"})


class PlatformHandle:
    """An in-process server on a background thread (tests)."""

    def __init__(self, state: PlatformState, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = PlatformServer((host, port), state)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def state(self) -> PlatformState:
        return self.server.state

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> PlatformHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=18090)
    ap.add_argument("--enterprises", type=int, default=15000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--start", type=date.fromisoformat, required=True)
    ap.add_argument("--end", type=date.fromisoformat, required=True)
    ap.add_argument("--faults", default="{}", help="JSON of Faults fields")
    args = ap.parse_args(argv)
    state = PlatformState(
        args.enterprises, args.seed, args.start, args.end, Faults(**json.loads(args.faults))
    )
    server = PlatformServer((args.host, args.port), state)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"credit-sharing platform simulator on {server.url} ({len(EXTERNAL)} datasets)", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
