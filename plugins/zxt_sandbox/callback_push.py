"""Pushes a provider's notifications (receipts, replies, WeChat events) to a callback URL, the way
the providers do: from a background thread, a little after the fact, retried when the receiver
does not answer — so the receiver sees late and duplicate deliveries as in production."""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass

import requests

log = logging.getLogger(__name__)


@dataclass
class _Item:
    url: str
    body: bytes
    content_type: str
    attempts: int = 0


class CallbackPusher:
    """A queue of POSTs, sent in order by one daemon thread; ``drain()`` waits until it is empty."""

    def __init__(
        self, name: str, retries: int = 3, retry_wait_s: float = 0.2, timeout_s: float = 5.0
    ) -> None:
        self.retries = retries
        self.retry_wait_s = retry_wait_s
        self.timeout_s = timeout_s
        self.delivered = 0
        self.given_up = 0
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._idle = threading.Condition()
        self._pending = 0
        self._thread = threading.Thread(target=self._run, name=f"{name}-pusher", daemon=True)
        self._thread.start()

    def push(self, url: str, body: bytes, content_type: str) -> None:
        with self._idle:
            self._pending += 1
        self._queue.put(_Item(url, body, content_type))

    def drain(self, timeout_s: float = 10.0) -> bool:
        """True once every queued notification was delivered or given up."""
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            ok = self._post(item)
            while not ok and item.attempts <= self.retries:
                time.sleep(self.retry_wait_s * item.attempts)
                ok = self._post(item)
            with self._idle:
                if ok:
                    self.delivered += 1
                else:
                    self.given_up += 1
                self._pending -= 1
                self._idle.notify_all()

    def _post(self, item: _Item) -> bool:
        item.attempts += 1
        try:
            r = requests.post(
                item.url, data=item.body, headers={"Content-Type": item.content_type}, timeout=self.timeout_s
            )
        except requests.exceptions.RequestException:
            return False
        return r.status_code == 200
