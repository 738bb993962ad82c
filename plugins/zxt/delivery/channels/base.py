"""The channel interface: what the relay needs from any way of reaching a taxpayer (SMS, WeChat …).

A channel sends one *request* — a batch of messages that the provider accepts in one call — and
classifies what happened to each message into an :class:`Outcome`. The relay turns outcomes into
outbox states; it never looks at a provider's error codes. Receipts (did the handset get it?) come
back later, pushed to a callback or pulled; a channel that has them implements the receipt methods.

Channels are registered by the name stored in ``delivery.outbox.channel`` (see ``registry``).
"""

from __future__ import annotations

import re
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import ClassVar

from zxt.core.settings import Settings


class Outcome(StrEnum):
    """What the outbox should do next with one message after a send attempt."""

    SUBMITTED = "submitted"  # the provider accepted it; a receipt will say delivered / failed
    SUPPRESS = "suppress"  # the person opted out: suppress the recipient on this channel
    RESCHEDULE = "reschedule"  # a per-recipient limit: try again after its window
    PAUSE = "pause_channel"  # an app-level quota or balance: stop the whole channel until it resets
    RETRY = "retry"  # transient, the provider answered and did not send: back off, costs an attempt
    NOT_SENT = "not_sent"  # the request never left (connect refused/timed out): free retry, trips the breaker
    UNKNOWN = "unknown"  # may or may not have gone out: reconcile from receipts, never resend
    FAILED = "failed"  # will never succeed as is (bad number, unapproved template): another channel may


# Outcomes that mean the provider answered (the channel is up: the circuit breaker closes).
ANSWERED = frozenset({Outcome.SUBMITTED, Outcome.SUPPRESS, Outcome.RESCHEDULE, Outcome.PAUSE, Outcome.FAILED})
# Outcomes after which the message may be on its way to the person (they count against daily caps).
MAYBE_SENT = frozenset({Outcome.SUBMITTED, Outcome.UNKNOWN})


@dataclass(frozen=True)
class Message:
    """One outbox row as a channel sees it: no taxpayer data beyond what the template needs."""

    outbox_id: int
    recipient: str  # a mobile number, an openid …: whatever the channel addresses
    template_id: str  # the provider's approved template id
    params: tuple[str, ...]  # already sanitised for this channel (Channel.sanitise)
    idempotency_key: str = ""  # for providers with a de-duplication field (WeChat client_msg_id)


@dataclass(frozen=True)
class MessageResult:
    outbox_id: int
    outcome: Outcome
    code: str  # the provider's code, or a synthetic ``Network.*`` / ``HTTP.<status>``
    message: str = ""
    provider_id: str | None = None  # serial number / msgid: receipts are matched on it
    request_id: str | None = None
    # A provider's own hint for RESCHEDULE / PAUSE (e.g. WeChat's quota resets at midnight); the
    # relay otherwise picks the next send window.
    not_before: datetime | None = None


@dataclass(frozen=True)
class Receipt:
    """A provider's final word on a message it accepted."""

    provider_id: str
    delivered: bool
    code: str = ""
    description: str = ""
    at: datetime | None = None
    recipient: str | None = None


class ReceiptsNotSupported(NotImplementedError):
    pass


class NotSent(Exception):
    """``send_batch`` failed before any byte of its request left (a bad parameter, a missing
    token): its messages go back to the queue without using an attempt. Any other exception from
    ``send_batch`` is taken as "the request may have left" (UNKNOWN)."""


# Characters that must never reach a provider's template: C0/C1 controls and every Unicode format
# character (bidi overrides and isolates, zero-width joiners, BOM), which can reorder or hide text.
_LINE_BREAKS = re.compile(r"[\r\n\u0085\u2028\u2029\v\f]+")
_SPACES = re.compile(r"\s+")


def clean_text(value: object, max_chars: int | None = None) -> str:
    """A template parameter safe for any channel: one line, no control or format characters."""
    text = _LINE_BREAKS.sub(" ", str(value))
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf", "Co", "Cs"))
    text = _SPACES.sub(" ", text).strip()
    return text[:max_chars] if max_chars is not None else text


class Channel(ABC):
    """A way of reaching taxpayers. Subclasses set ``name`` and implement ``send_batch``."""

    name: ClassVar[str]
    # Messages one request may carry; batched messages share template and parameters.
    max_batch: ClassVar[int] = 1
    # Longest parameter value the channel accepts (None: the provider decides).
    max_param_chars: ClassVar[int | None] = None

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    # --- limits the relay enforces across all its workers ------------------------------------
    @property
    def max_per_recipient_per_day(self) -> int:
        return self.settings.delivery.max_per_recipient_per_day

    @property
    def max_per_second(self) -> int:
        return self.settings.delivery.max_per_second

    # --- content -------------------------------------------------------------------------------
    def sanitise(self, params: Iterable[object]) -> tuple[str, ...]:
        """Template parameters as this channel may send them (see ``clean_text``)."""
        return tuple(clean_text(p, self.max_param_chars) for p in params)

    def batch_key(self, message: Message) -> tuple:
        """Messages with equal keys may share one request (same template and parameters)."""
        return (message.template_id, message.params)

    def batches(self, messages: Sequence[Message]) -> list[list[Message]]:
        """Split messages into requests: equal ``batch_key``, unique recipients, ≤ ``max_batch``."""
        groups: dict[tuple, list[list[Message]]] = {}
        for m in messages:
            chunks = groups.setdefault(self.batch_key(m), [[]])
            target = next(
                (c for c in chunks if len(c) < self.max_batch and all(x.recipient != m.recipient for x in c)),
                None,
            )
            if target is None:
                target = []
                chunks.append(target)
            target.append(m)
        return [c for chunks in groups.values() for c in chunks if c]

    def retry_after(self, result: MessageResult) -> timedelta | None:
        """How long a RESCHEDULE result waits; None: until the next send window (daily limits)."""
        return None

    # --- sending -------------------------------------------------------------------------------
    @abstractmethod
    def send_batch(self, messages: Sequence[Message]) -> list[MessageResult]:
        """Send one request; return exactly one result per message, in any order. Never resend:
        if the request may have left and no answer came, the outcome is UNKNOWN."""

    # --- receipts ------------------------------------------------------------------------------
    def parse_receipts(self, payload: bytes) -> list[Receipt]:
        """Receipts pushed by the provider to our callback endpoint."""
        raise ReceiptsNotSupported(f"channel {self.name} does not accept pushed receipts")

    def pull_receipts(self) -> list[Receipt]:
        """Receipts fetched from the provider (idempotent: the caller upserts by provider_id)."""
        raise ReceiptsNotSupported(f"channel {self.name} does not pull receipts")

    def close(self) -> None:  # noqa: B027 - optional hook, most channels hold nothing
        """Release connections; the default holds none."""
