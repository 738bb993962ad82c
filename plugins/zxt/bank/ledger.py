"""``delivery.bank_ledger``: every bank file set, written ahead of its upload.

A set is ``prepared`` (with the exact bytes to send) before anything reaches the bank, then
``delivered`` once data, manifest and marker are in the inbox. A crash at any step leaves the
prepared row, and a rerun finishes the same bytes. ``conflict``: the inbox holds different files
under our names; only a re-delivery under the next ``seq`` (``replaces`` the earlier one) moves on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

DONE = ("delivered", "acknowledged", "rejected")


@dataclass
class Entry:
    bank_code: str
    product_code: str
    business_date: date
    seq: int
    status: str
    data_file: str
    manifest_file: str
    marker_file: str
    row_count: int
    plaintext_sha256: str
    ciphertext_sha256: str | None
    replaces: int | None
    payload: bytes | None
    manifest: bytes | None


def latest(conn: sa.Connection, bank: str, product: str, business_date: date) -> Entry | None:
    row = (
        conn.execute(
            sa.text(
                """select bank_code, product_code, business_date, seq, status, data_file, manifest_file,
                          marker_file, row_count, plaintext_sha256, ciphertext_sha256, replaces, payload, manifest
                   from delivery.bank_ledger
                   where bank_code = :b and product_code = :p and business_date = :d
                   order by seq desc limit 1"""
            ),
            {"b": bank, "p": product, "d": business_date},
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    values = dict(row)
    for key in ("payload", "manifest"):
        values[key] = bytes(values[key]) if values[key] is not None else None
    return Entry(**values)


def prepare(conn: sa.Connection, e: Entry) -> None:
    """Record the set before its upload (replacing an unsent prepared row of the same seq)."""
    conn.execute(
        sa.text(
            """insert into delivery.bank_ledger (bank_code, product_code, business_date, seq, data_file,
                 manifest_file, marker_file, row_count, plaintext_sha256, ciphertext_sha256, status, replaces,
                 payload, manifest)
               values (:b, :p, :d, :s, :f, :m, :k, :n, :ph, :ch, 'prepared', :r, :pl, :mf)
               on conflict (bank_code, product_code, business_date, seq) do update set
                 data_file = excluded.data_file, manifest_file = excluded.manifest_file,
                 marker_file = excluded.marker_file, row_count = excluded.row_count,
                 plaintext_sha256 = excluded.plaintext_sha256, ciphertext_sha256 = excluded.ciphertext_sha256,
                 payload = excluded.payload, manifest = excluded.manifest, delivered_at = now()
               where delivery.bank_ledger.status = 'prepared'"""
        ),
        {
            "b": e.bank_code,
            "p": e.product_code,
            "d": e.business_date,
            "s": e.seq,
            "f": e.data_file,
            "m": e.manifest_file,
            "k": e.marker_file,
            "n": e.row_count,
            "ph": e.plaintext_sha256,
            "ch": e.ciphertext_sha256,
            "r": e.replaces,
            "pl": e.payload,
            "mf": e.manifest,
        },
    )


def adopt(conn: sa.Connection, e: Entry, payload: bytes, manifest: bytes, note: str) -> None:
    """The inbox already holds this set from an earlier attempt: record its bytes as ours."""
    e.payload, e.manifest = payload, manifest
    e.ciphertext_sha256 = hashlib.sha256(payload).hexdigest() if e.ciphertext_sha256 else None
    conn.execute(
        sa.text(
            """update delivery.bank_ledger set payload = :pl, manifest = :mf, ciphertext_sha256 = :ch, note = :n
               where bank_code = :b and product_code = :p and business_date = :d and seq = :s"""
        ),
        _key(e) | {"pl": payload, "mf": manifest, "ch": e.ciphertext_sha256, "n": note},
    )


def finish(conn: sa.Connection, e: Entry, status: str, note: str | None = None) -> None:
    """``delivered`` (the payload is dropped: the bank has it) or ``conflict``."""
    e.status = status
    conn.execute(
        sa.text(
            """update delivery.bank_ledger set status = :st, note = coalesce(:n, note), delivered_at = now(),
                 payload = case when :st = 'delivered' then null else payload end
               where bank_code = :b and product_code = :p and business_date = :d and seq = :s"""
        ),
        _key(e) | {"st": status, "n": note},
    )


def _key(e: Entry) -> dict:
    return {"b": e.bank_code, "p": e.product_code, "d": e.business_date, "s": e.seq}
