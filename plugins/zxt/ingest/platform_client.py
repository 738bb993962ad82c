"""Client of the city credit-sharing platform's API (信用信息共享平台): one dataset, one business date.

Authenticates (client credentials → bearer token, renewed on 401), follows the page cursor,
honours 429 ``Retry-After``, backs off on 5xx, timeouts and refused connections, and restarts a
pull whose cursor expired. Records repeated across pages or replayed by a restart are dropped
when identical to one already seen (same key, same values); a different record under a seen key
is kept, so the contract's duplicate-key check rejects it with a reason instead of it vanishing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urljoin

import requests

from zxt.core.settings import PlatformSettings

log = logging.getLogger(__name__)


class PullFailed(Exception):
    """The platform could not be read (down, refusing us, or a protocol error): retry later."""


@dataclass
class PullStats:
    pages: int = 0
    records: int = 0  # yielded
    duplicates: int = 0  # identical records dropped (page overlap, restart replay)
    retries: int = 0  # 5xx / timeout / connection attempts repeated
    rate_limited: int = 0
    restarts: int = 0  # cursor expired: pull started again
    tokens: int = 0
    schema_versions: set[int] = field(default_factory=set)


class PlatformClient:
    def __init__(
        self,
        settings: PlatformSettings,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.s = settings
        self.http = session or requests.Session()
        self.sleep = sleep
        self._token: str | None = None

    def _url(self, path: str) -> str:
        return urljoin(self.s.url if self.s.url.endswith("/") else self.s.url + "/", path)

    def _authenticate(self, stats: PullStats) -> None:
        resp = self._send(
            "POST",
            "oauth/token",
            stats,
            json={"client_id": self.s.client_id, "client_secret": self.s.client_secret},
        )
        if resp.status_code != 200:
            raise PullFailed(
                f"platform refused our credentials (HTTP {resp.status_code}); check ZXT_PLATFORM_CLIENT_*"
            )
        self._token = resp.json()["access_token"]
        stats.tokens += 1

    def _send(self, method: str, path: str, stats: PullStats, **kw: Any) -> requests.Response:
        """One request with retries for 5xx, timeouts and refused connections (not for 4xx)."""
        delay = self.s.backoff_s
        for attempt in range(1, self.s.max_attempts + 1):
            try:
                resp = self.http.request(method, self._url(path), timeout=self.s.timeout_s, **kw)
                if resp.status_code < 500:
                    return resp
                problem = f"HTTP {resp.status_code}"
            except (requests.Timeout, requests.ConnectionError) as exc:
                problem = type(exc).__name__
            if attempt == self.s.max_attempts:
                raise PullFailed(f"{method} {path}: {problem} after {attempt} attempts")
            stats.retries += 1
            log.warning("platform %s %s: %s; retrying in %.1f s", method, path, problem, delay)
            self.sleep(delay)
            delay = min(delay * 2, self.s.max_backoff_s)
        raise AssertionError("unreachable")

    def records(
        self, dataset: str, business_date: date, key: tuple[str, ...], stats: PullStats
    ) -> Iterator[dict[str, Any]]:
        """Every record of ``dataset`` for ``business_date``, each once."""
        seen: dict[tuple, bytes] = {}  # key → digest of the first record seen under it
        cursor: str | None = None
        while True:
            if self._token is None:
                self._authenticate(stats)
            params = {"business_date": business_date.isoformat(), "page_size": self.s.page_size}
            if cursor:
                params["cursor"] = cursor
            resp = self._send(
                "GET",
                f"api/v1/datasets/{dataset}/records",
                stats,
                params=params,
                headers={"Authorization": f"Bearer {self._token}"},
            )
            if resp.status_code == 401:  # token expired or revoked: once more with a new one
                self._token = None
                if stats.tokens > stats.pages + 3:
                    raise PullFailed(f"{dataset}: the platform keeps refusing fresh tokens (HTTP 401)")
                continue
            if resp.status_code == 429:
                stats.rate_limited += 1
                if stats.rate_limited > self.s.max_rate_limited:
                    raise PullFailed(f"{dataset}: rate limited {stats.rate_limited} times; try later")
                wait = _retry_after(resp.headers.get("Retry-After"), self.s.max_backoff_s)
                log.info("platform %s: rate limited; waiting %.1f s", dataset, wait)
                self.sleep(wait)
                continue
            if resp.status_code == 410:  # the cursor expired: start again, dropping what we have seen
                stats.restarts += 1
                if stats.restarts > self.s.max_restarts:
                    raise PullFailed(f"{dataset}: cursor expired {stats.restarts} times; pages too slow?")
                log.warning(
                    "platform %s: cursor expired after %d page(s); restarting the pull", dataset, stats.pages
                )
                cursor = None
                continue
            if resp.status_code != 200:
                raise PullFailed(f"{dataset}: HTTP {resp.status_code}: {resp.text[:300]}")
            try:
                doc = resp.json()
                page = doc["records"]
            except (ValueError, KeyError) as exc:
                raise PullFailed(f"{dataset}: not a records page ({exc})") from None
            stats.pages += 1
            stats.schema_versions.add(int(doc.get("schema_version", 0)))
            for rec in page:
                ident = tuple(rec.get(k) for k in key)
                body = hashlib.blake2b(json.dumps(rec, sort_keys=True).encode(), digest_size=16).digest()
                if seen.get(ident) == body:
                    stats.duplicates += 1
                    continue
                seen.setdefault(ident, body)
                stats.records += 1
                yield rec
            cursor = doc.get("next_cursor")
            if not cursor:
                return


def _retry_after(value: str | None, cap: float) -> float:
    try:
        return min(max(float(value or 1), 0.0), cap)
    except ValueError:  # an HTTP date: not worth parsing, wait a second
        return 1.0
