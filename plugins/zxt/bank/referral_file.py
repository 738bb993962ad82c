"""The referral file a bank receives: CSV bytes, its name and its manifest.

Plaintext is byte-identical for a given date (rows sorted by USCC, fixed formatting). Every text cell
is neutralised against spreadsheet formula injection: a value starting with ``=``, ``+``, ``-``,
``@`` (or a tab / carriage return, or their full-width forms) gets a leading apostrophe, so Excel and
WPS show it as text instead of evaluating it. Plain numbers (``-12.50``) are left as they are.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

SCHEMA_VERSION = "referral/1"
FIELDS = [
    "uscc",
    "taxpayer_name",
    "credit_level",
    "evaluation_year",
    "years_in_business",
    "tax_paid_12m",
    "authorisation_id",
]
FORMULA_STARTS = tuple("=+-@\t\r") + ("＝", "＋", "－", "＠")
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


def neutralise(value: str) -> str:
    """The cell as a spreadsheet must show it: never a formula."""
    if value.lstrip(" ").startswith(FORMULA_STARTS) and not _NUMBER.match(value):
        return "'" + value
    return value


def build_csv(rows: Iterable[Mapping[str, Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(FIELDS)
    for r in rows:
        writer.writerow([neutralise("" if r[f] is None else str(r[f])) for f in FIELDS])
    return buf.getvalue().encode("utf-8")


def file_stem(sender: str, bank_code: str, business_date: date, seq: int) -> str:
    return f"{sender}_{bank_code}_REFERRAL_{business_date:%Y%m%d}_{seq:02d}"


def manifest_bytes(
    *,
    sender: str,
    bank_code: str,
    product_code: str,
    business_date: date,
    seq: int,
    replaces: int | None,
    cipher: str,
    data_name: str,
    plaintext: bytes,
    payload: bytes,
    row_count: int,
) -> bytes:
    """The manifest beside the data file (deterministic for the same inputs)."""
    manifest = {
        "batch_id": str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"zxt:{bank_code}:{product_code}:{business_date}:{seq}")
        ),
        "schema_version": SCHEMA_VERSION,
        "sender": sender,
        "bank_code": bank_code,
        "product_code": product_code,
        "business_date": business_date.isoformat(),
        "seq": seq,
        "replaces": replaces,
        "cipher": cipher,
        "files": [
            {
                "name": data_name,
                "bytes": len(payload),
                "row_count": row_count,
                "plaintext_sha256": hashlib.sha256(plaintext).hexdigest(),
                "ciphertext_sha256": hashlib.sha256(payload).hexdigest() if cipher != "none" else None,
            }
        ],
    }
    return json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")


def describes(manifest: bytes | None, plaintext_sha256: str, data: bytes | None) -> bool:
    """Whether a manifest found in the inbox describes our plaintext and the data file beside it."""
    try:
        entry = (json.loads(manifest or b"") or {}).get("files", [{}])[0]
    except (ValueError, AttributeError, IndexError, TypeError):
        return False
    if data is None or entry.get("plaintext_sha256") != plaintext_sha256:
        return False
    actual = hashlib.sha256(data).hexdigest()
    return entry.get("ciphertext_sha256") in (actual, None) and (
        entry.get("ciphertext_sha256") is not None or actual == plaintext_sha256
    )
