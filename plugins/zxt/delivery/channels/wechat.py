"""WeChat official-account template messages (``cgi-bin/message/template/send``).

The access token is fetched centrally: one row in ``delivery.provider_tokens`` shared by every relay
worker and process. Whoever finds it stale takes the row lock and calls ``stable_token``; the others
wait on the lock and read the fresh token — never one token per worker (WeChat caps fetches per day
and a forced fetch invalidates the tokens others hold). A token error (40001 / 40014 / 42001)
refreshes once and retries once.

``client_msg_id`` is the outbox row's idempotency key, so a send repeated within WeChat's
de-duplication window is not delivered twice. The final status arrives later as a
``TEMPLATESENDJOBFINISH`` event (see ``zxt.delivery.receipts``).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
import sqlalchemy as sa
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from zxt.core.settings import BUREAU_TZ, Settings, get_settings
from zxt.delivery.channels.base import Channel, Message, MessageResult, Outcome

log = logging.getLogger(__name__)

_TOKEN_IN_URL = re.compile(r"access_token=[^&\s\"]+")


class _RedactToken(logging.Filter):
    """urllib3 logs request URLs at debug level, and WeChat puts the access token in the URL."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _TOKEN_IN_URL.sub("access_token=***", a) if isinstance(a, str) else a for a in record.args
            )
        if isinstance(record.msg, str):
            record.msg = _TOKEN_IN_URL.sub("access_token=***", record.msg)
        return True


_urllib3_log = logging.getLogger("urllib3.connectionpool")
if not any(isinstance(f, _RedactToken) for f in _urllib3_log.filters):
    _urllib3_log.addFilter(_RedactToken())

CHANNEL = "wechat"
MAX_VALUE_CHARS = 20  # since 2023-05: every data value ≤ 20 characters, no line breaks
# Refresh a little before expiry so a token never dies between reading and using it.
TOKEN_MARGIN = timedelta(minutes=5)

# Outcomes (channels.base.Outcome) under the names this module uses.
SUBMITTED = Outcome.SUBMITTED
PERMANENT = Outcome.FAILED  # not a follower / refused / bad request: fall back to SMS
PAUSE_CHANNEL = Outcome.PAUSE  # daily quota: no WeChat until the bureau's midnight
RETRY = Outcome.RETRY  # busy, or a token error that survived its refresh: back off and retry
NOT_SENT = Outcome.NOT_SENT  # the request never left
UNKNOWN = Outcome.UNKNOWN  # may have been sent: reconcile from the job-finish event, never resend

TOKEN_ERRORS = frozenset({40001, 40014, 42001})
NOT_A_FOLLOWER, REFUSED, QUOTA, BUSY = 43004, 43101, 45009, -1

# Synthetic codes for failures without a WeChat errcode.
CONNECT_ERROR = "Network.ConnectError"
READ_TIMEOUT = "Network.ReadTimeout"
BROKEN_RESPONSE = "Network.BrokenResponse"
VALUE_TOO_LONG = "ZXT.ValueTooLong"


def classify(code: int | str) -> Outcome:
    if code == 0:
        return SUBMITTED
    if code == QUOTA:
        return PAUSE_CHANNEL
    if code == CONNECT_ERROR:
        return NOT_SENT
    if code == BUSY or code in TOKEN_ERRORS:
        return RETRY  # a token error here already had its one refresh
    if code in (READ_TIMEOUT, BROKEN_RESPONSE, "HTTP.502", "HTTP.504"):
        return UNKNOWN
    if isinstance(code, str) and code.startswith("HTTP.5"):
        return RETRY
    # 43004 not a follower, 43101 refused, 40003 bad openid, 40037 bad template, 47003 bad data.
    return PERMANENT


def event_signature(token: str, timestamp: str, nonce: str) -> str:
    """How WeChat signs what it pushes to our server: SHA-1 of the sorted, joined three strings."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode("utf-8")).hexdigest()


def check_values(values: Sequence[str]) -> str | None:
    """Why WeChat would refuse these data values, or None."""
    for i, v in enumerate(values, 1):
        if len(v) > MAX_VALUE_CHARS:
            return f"value {i} has {len(v)} characters (at most {MAX_VALUE_CHARS})"
        if "\n" in v or "\r" in v:
            return f"value {i} contains a line break"
    return None


def until_bureau_midnight(now: datetime) -> datetime:
    """45009 resets at midnight Beijing time."""
    local = now.astimezone(BUREAU_TZ)
    return local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)


@dataclass(frozen=True)
class SendResult:
    code: int | str
    message: str
    msgid: str | None
    outcome: Outcome
    token_refreshed: bool = False


class TokenError(RuntimeError):
    """stable_token itself failed (wrong app id or secret, or the API is unreachable)."""


class TokenCache:
    """The account's access token, kept in the warehouse for every worker."""

    def __init__(self, engine: sa.Engine, settings: Settings, session: requests.Session) -> None:
        self.engine = engine
        self.settings = settings
        self.session = session
        self.provider = f"wechat:{settings.wechat.app_id}"

    def get(self) -> str:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.text(
                    "select access_token from delivery.provider_tokens "
                    "where provider = :p and expires_at > now() + :margin"
                ),
                {"p": self.provider, "margin": TOKEN_MARGIN},
            ).first()
        return row[0] if row and row[0] else self.refresh(stale=None)

    def refresh(self, stale: str | None) -> str:
        """A fresh token; ``stale`` is the one WeChat refused (None: the cached one ran out)."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.text("insert into delivery.provider_tokens (provider) values (:p) on conflict do nothing"),
                {"p": self.provider},
            )
            token, valid = conn.execute(
                sa.text(
                    "select access_token, expires_at > now() + :margin from delivery.provider_tokens "
                    "where provider = :p for update"
                ),
                {"p": self.provider, "margin": TOKEN_MARGIN},
            ).one()
            # Another worker refreshed while we waited for the lock: use its token.
            if token and valid and token != stale:
                return token
            new, expires_in = self._fetch(force=False)
            if stale is not None and new == stale:
                # WeChat still hands out the token it just refused: force a new one.
                new, expires_in = self._fetch(force=True)
            conn.execute(
                sa.text(
                    """update delivery.provider_tokens
                       set access_token = :t, expires_at = now() + make_interval(secs => :s),
                           fetched_at = now(), fetches = fetches + 1
                       where provider = :p"""
                ),
                {"t": new, "s": expires_in, "p": self.provider},
            )
        log.info("wechat: access token fetched (valid %ds)", expires_in)
        return new

    def _fetch(self, force: bool) -> tuple[str, int]:
        w = self.settings.wechat
        try:
            r = self.session.post(
                w.endpoint.rstrip("/") + "/cgi-bin/stable_token",
                json={
                    "grant_type": "client_credential",
                    "appid": w.app_id,
                    "secret": w.app_secret,
                    "force_refresh": force,
                },
                timeout=w.timeout_s,
            )
            doc = r.json()
        except (requests.exceptions.RequestException, ValueError) as exc:
            raise TokenError(f"stable_token: {type(exc).__name__} talking to WeChat") from exc
        if not isinstance(doc, dict) or "access_token" not in doc:
            code = doc.get("errcode") if isinstance(doc, dict) else None
            msg = doc.get("errmsg") if isinstance(doc, dict) else None
            raise TokenError(f"stable_token refused: errcode {code} {msg}")
        return str(doc["access_token"]), int(doc.get("expires_in", 7200))


class WeChatClient:
    """Sends template messages to ``settings.wechat.endpoint`` (the real API or the simulator)."""

    def __init__(self, engine: sa.Engine, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        # One pooled session (a connection per message would cap the rate). A lost answer is
        # "unknown", settled by the job-finish event; a replayed send within WeChat's window is
        # de-duplicated by client_msg_id.
        self.session = requests.Session()
        self.tokens = TokenCache(engine, self.settings, self.session)
        self.url = self.settings.wechat.endpoint.rstrip("/") + "/cgi-bin/message/template/send"

    def close(self) -> None:
        self.session.close()

    def send(
        self,
        openid: str,
        template_id: str,
        keys: Sequence[str],
        values: Sequence[str],
        client_msg_id: str,
        url: str | None = None,
    ) -> SendResult:
        """One template message; a token error refreshes the shared token once and retries once."""
        if len(keys) != len(values):
            return SendResult(VALUE_TOO_LONG, f"{len(values)} values for {len(keys)} keys", None, PERMANENT)
        problem = check_values(values)
        if problem:
            return SendResult(VALUE_TOO_LONG, problem, None, PERMANENT)
        body: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {k: {"value": v} for k, v in zip(keys, values, strict=True)},
            "client_msg_id": client_msg_id,
        }
        if url:
            body["url"] = url
        try:
            token = self.tokens.get()
        except TokenError as exc:
            log.warning("wechat: %s", exc)
            return SendResult(CONNECT_ERROR, str(exc), None, NOT_SENT)
        result = self._post(token, body)
        if result.code in TOKEN_ERRORS:
            try:
                token = self.tokens.refresh(stale=token)
            except TokenError as exc:
                log.warning("wechat: %s", exc)
                return SendResult(CONNECT_ERROR, str(exc), None, NOT_SENT)
            result = self._post(token, body)
            result = SendResult(
                result.code, result.message, result.msgid, result.outcome, token_refreshed=True
            )
        # Codes and counts only: openids identify people.
        log.info("wechat send template=%s errcode=%s outcome=%s", template_id, result.code, result.outcome)
        return result

    def _post(self, token: str, body: Mapping[str, Any]) -> SendResult:
        w = self.settings.wechat
        try:
            r = self.session.post(
                self.url, params={"access_token": token}, json=body, timeout=(w.timeout_s, w.timeout_s)
            )
        except requests.exceptions.RequestException as exc:
            code = _network_code(exc)
            return SendResult(code, type(exc).__name__, None, classify(code))
        if r.status_code != 200:
            code = f"HTTP.{r.status_code}"
            return SendResult(code, r.reason or "HTTP error", None, classify(code))
        try:
            doc = r.json()
            code = int(doc.get("errcode", 0))
            msgid = doc.get("msgid")
        except (ValueError, TypeError, AttributeError):
            return SendResult(BROKEN_RESPONSE, "unreadable response", None, UNKNOWN)
        if code == 0 and msgid is None:
            return SendResult(BROKEN_RESPONSE, "ok without msgid", None, UNKNOWN)
        return SendResult(
            code, str(doc.get("errmsg", "")), str(msgid) if msgid is not None else None, classify(code)
        )


def _network_code(exc: requests.exceptions.RequestException) -> str:
    """Connect failures never sent a byte; anything later may have reached WeChat."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return CONNECT_ERROR
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return READ_TIMEOUT
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = exc.args[0] if exc.args else None
        if isinstance(reason, MaxRetryError):
            reason = reason.reason
        if isinstance(reason, NewConnectionError | ConnectTimeoutError):
            return CONNECT_ERROR
    return BROKEN_RESPONSE


class WeChatChannel(Channel):
    """The ``wechat`` channel of the relay: one template message per request (WeChat has no batch
    send), ``client_msg_id`` = the outbox idempotency key, data keys from the template seed; 45009
    pauses the channel until Beijing midnight (``not_before``)."""

    name = CHANNEL
    max_batch = 1
    max_param_chars = MAX_VALUE_CHARS

    def __init__(self, settings: Settings) -> None:
        from zxt.warehouse import server as warehouse

        super().__init__(settings)
        self.engine = warehouse.engine(settings, role="delivery")
        self.client = WeChatClient(self.engine, settings)
        self._keys: dict[str, list[str]] | None = None

    def template_keys(self, template_id: str) -> list[str] | None:
        if self._keys is None:
            with self.engine.connect() as conn:
                self._keys = {
                    tid: [k for k in (keys or "").split("|") if k]
                    for tid, keys in conn.execute(
                        sa.text(
                            "select provider_template_id, provider_keys from rules.message_templates "
                            "where channel = 'wechat'"
                        )
                    )
                }
        return self._keys.get(template_id)

    def send_batch(self, messages: Sequence[Message]) -> list[MessageResult]:
        return [self._send(m) for m in messages]

    def _send(self, m: Message) -> MessageResult:
        if self._opted_out(m.recipient):
            return MessageResult(m.outbox_id, Outcome.SUPPRESS, "ZXT.OptedOut", "opted out of WeChat")
        keys = self.template_keys(m.template_id)
        if keys is None:
            return MessageResult(m.outbox_id, Outcome.FAILED, "ZXT.UnknownTemplate", "not a WeChat template")
        r = self.client.send(
            m.recipient, m.template_id, keys, m.params, m.idempotency_key or str(m.outbox_id)
        )
        # The relay pauses the channel for every worker until then (delivery.channel_state).
        not_before = until_bureau_midnight(self.settings.clock.now()) if r.outcome == PAUSE_CHANNEL else None
        return MessageResult(m.outbox_id, r.outcome, str(r.code), r.message, r.msgid, not_before=not_before)

    def _opted_out(self, openid: str) -> bool:
        """Checked at send time: the suppression list, and the latest WeChat consent event of the
        mobile bound to this openid (consent events are kept by mobile number)."""
        with self.engine.connect() as conn:
            return bool(conn.execute(sa.text(_OPTED_OUT_SQL), {"o": openid}).first())

    def close(self) -> None:
        self.client.close()


_OPTED_OUT_SQL = """
select 1 from delivery.suppression where channel = 'wechat' and recipient = :o
union all
select 1 from (
    select e.event_type from raw.contact__consents e
    where e.channel = 'wechat' and e.contact_mobile in (
        select contact_mobile from raw.tax__taxpayers where wechat_openid = :o
    )
    order by e.event_date desc, e.event_id desc limit 1
) latest where event_type = 'opt_out'
"""
