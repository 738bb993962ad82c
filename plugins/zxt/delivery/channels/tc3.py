"""TC3-HMAC-SHA256 request signing for Tencent Cloud API 3.0 (what the official SDK does).

The same functions sign our SendSms calls and let the loopback simulator verify them, so a
signing bug cannot hide behind a lenient fake.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

ALGORITHM = "TC3-HMAC-SHA256"
CONTENT_TYPE = "application/json; charset=utf-8"
SMS_VERSION = "2021-01-11"
SMS_ACTION = "SendSms"
# delivery.md signs x-tc-action too; the server honours whatever SignedHeaders lists.
DEFAULT_SIGNED_HEADERS: tuple[str, ...] = ("content-type", "host", "x-tc-action")
REQUIRED_SIGNED_HEADERS = frozenset({"content-type", "host"})
MAX_SKEW_S = 300  # Tencent rejects requests more than 5 minutes off its clock

SIGNATURE_FAILURE = "AuthFailure.SignatureFailure"
SIGNATURE_EXPIRE = "AuthFailure.SignatureExpire"
SECRET_ID_NOT_FOUND = "AuthFailure.SecretIdNotFound"
INVALID_AUTHORIZATION = "AuthFailure.InvalidAuthorization"

_AUTH_RE = re.compile(
    r"^TC3-HMAC-SHA256 Credential=(?P<secret_id>[^/\s]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[^/\s]+)"
    r"/tc3_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})$"
)


def utc_date(timestamp: int) -> str:
    """The credential-scope date: UTC, never local time (else signing fails around midnight)."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _lower_keys(headers: Mapping[str, str]) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}


def canonical_request(
    headers: Mapping[str, str],
    body: bytes,
    signed_headers: Sequence[str] = DEFAULT_SIGNED_HEADERS,
    method: str = "POST",
    uri: str = "/",
    query: str = "",
) -> str:
    """Step 1: method, URI, query, canonical headers, signed header names, hex SHA-256 of the body.

    ``headers`` are the request headers as sent (any case); only ``signed_headers`` take part.
    """
    lowered = _lower_keys(headers)
    names = sorted(name.lower() for name in signed_headers)
    try:
        canonical_headers = "".join(f"{name}:{lowered[name].strip().lower()}\n" for name in names)
    except KeyError as exc:
        raise ValueError(f"signed header {exc.args[0]!r} is not among the request headers") from exc
    return "\n".join([method, uri, query, canonical_headers, ";".join(names), sha256_hex(body)])


def credential_scope(timestamp: int, service: str) -> str:
    return f"{utc_date(timestamp)}/{service}/tc3_request"


def string_to_sign(timestamp: int, service: str, canonical: str) -> str:
    """Step 2: algorithm, timestamp, credential scope, hex SHA-256 of the canonical request."""
    return "\n".join(
        [ALGORITHM, str(timestamp), credential_scope(timestamp, service), sha256_hex(canonical.encode())]
    )


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret_key: str, date: str, service: str) -> bytes:
    """Step 3.1: kDate = HMAC("TC3" + SecretKey, date); kService = HMAC(kDate, service); kSigning."""
    k_date = _hmac(("TC3" + secret_key).encode("utf-8"), date)
    k_service = _hmac(k_date, service)
    return _hmac(k_service, "tc3_request")


def signature_from_key(k_signing: bytes, string_to_sign: str) -> str:
    """Step 3.2: hex HMAC of the string to sign under the derived signing key."""
    return _hmac(k_signing, string_to_sign).hex()


def signature(secret_key: str, date: str, service: str, string_to_sign: str) -> str:
    """Step 3: the hex signature, as the SDK's ``Sign.sign_tc3(secret_key, date, service, str2sign)``."""
    return signature_from_key(signing_key(secret_key, date, service), string_to_sign)


def _signable_headers(host: str, action: str, content_type: str) -> dict[str, str]:
    return {"Content-Type": content_type, "Host": host, "X-TC-Action": action}


def authorization_header(
    secret_id: str,
    secret_key: str,
    host: str,
    action: str,
    body: bytes,
    timestamp: int,
    service: str = "sms",
    signed_headers: Sequence[str] = DEFAULT_SIGNED_HEADERS,
    content_type: str = CONTENT_TYPE,
) -> str:
    """Step 4: the ``Authorization`` header value for a JSON POST to ``/``."""
    canonical = canonical_request(_signable_headers(host, action, content_type), body, signed_headers)
    to_sign = string_to_sign(timestamp, service, canonical)
    sig = signature(secret_key, utc_date(timestamp), service, to_sign)
    names = ";".join(sorted(name.lower() for name in signed_headers))
    return (
        f"{ALGORITHM} Credential={secret_id}/{credential_scope(timestamp, service)}, "
        f"SignedHeaders={names}, Signature={sig}"
    )


def sign_headers(
    secret_id: str,
    secret_key: str,
    host: str,
    action: str,
    body: bytes,
    timestamp: int,
    region: str,
    version: str = SMS_VERSION,
    service: str = "sms",
    signed_headers: Sequence[str] = DEFAULT_SIGNED_HEADERS,
) -> dict[str, str]:
    """Every header a signed API 3.0 JSON request carries; send ``body`` byte for byte."""
    headers = _signable_headers(host, action, CONTENT_TYPE)
    headers.update(
        {
            "X-TC-Version": version,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": region,
            "Authorization": authorization_header(
                secret_id, secret_key, host, action, body, timestamp, service, signed_headers
            ),
        }
    )
    return headers


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secret_lookup: Callable[[str], str | None],
    now: float,
    service: str = "sms",
    method: str = "POST",
    uri: str = "/",
    query: str = "",
) -> str | None:
    """Check a request the way the gateway does; return a Tencent ``AuthFailure.*`` code or None if valid."""
    lowered = _lower_keys(headers)
    match = _AUTH_RE.match(lowered.get("authorization", "").strip())
    if match is None:
        return INVALID_AUTHORIZATION
    signed = match["signed"].split(";")
    if (
        match["service"] != service
        or not REQUIRED_SIGNED_HEADERS.issubset(signed)
        or signed != sorted(signed)
        or any(name not in lowered for name in signed)
    ):
        return INVALID_AUTHORIZATION
    try:
        timestamp = int(lowered.get("x-tc-timestamp", ""))
    except ValueError:
        return INVALID_AUTHORIZATION
    if abs(now - timestamp) > MAX_SKEW_S:
        return SIGNATURE_EXPIRE
    secret_key = secret_lookup(match["secret_id"])
    if secret_key is None:
        return SECRET_ID_NOT_FOUND
    # The scope date is recomputed from X-TC-Timestamp: a client using local time fails here.
    canonical = canonical_request(lowered, body, signed, method, uri, query)
    expected = signature(
        secret_key, utc_date(timestamp), service, string_to_sign(timestamp, service, canonical)
    )
    if match["date"] != utc_date(timestamp) or not hmac.compare_digest(expected, match["signature"]):
        return SIGNATURE_FAILURE
    return None
