"""Bank referral drops: one file set per bank product and business date, over SFTP.

Plaintext CSV is byte-identical for a given date (sorted rows, fixed formatting). The set is
``<sender>_<bank>_REFERRAL_<YYYYMMDD>_<seq>.csv[.gpg]`` + ``.manifest.json`` + ``.ok`` (last).
The ledger makes a date's delivery happen once: a rerun finds it and sends nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from zxt.bank import pgp as zgpg
from zxt.bank import sftp as bank_upload
from zxt.core.settings import Settings, get_settings
from zxt.warehouse import migrate
from zxt.warehouse import server as warehouse

log = logging.getLogger(__name__)
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


@dataclass
class DropResult:
    bank_code: str
    product_code: str
    business_date: str
    status: str  # delivered | already_delivered
    rows: int
    files: list[str]


def build_csv(rows: list[sa.RowMapping]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(FIELDS)
    for r in rows:
        writer.writerow(["" if r[f] is None else str(r[f]) for f in FIELDS])
    return buf.getvalue().encode("utf-8")


def file_stem(settings: Settings, bank_code: str, business_date: date, seq: int) -> str:
    return f"{settings.bank.sender_code}_{bank_code}_REFERRAL_{business_date:%Y%m%d}_{seq:02d}"


def deliver_bank_referrals(as_of: date, settings: Settings | None = None) -> list[DropResult]:
    settings = settings or get_settings()
    engine = warehouse.engine(settings)
    migrate.ensure_current(engine)
    with engine.connect() as conn:
        products = conn.execute(
            sa.text(
                "select bank_code, product_code from rules.bank_products order by bank_code, product_code"
            )
        ).all()
    return [_deliver_product(engine, settings, bank, product, as_of) for bank, product in products]


def _deliver_product(
    engine: sa.Engine, settings: Settings, bank: str, product: str, as_of: date
) -> DropResult:
    with engine.connect() as conn:
        done = conn.execute(
            sa.text("""select data_file, manifest_file, row_count from delivery.bank_ledger
                       where bank_code = :b and product_code = :p and business_date = :d
                       order by seq desc limit 1"""),
            {"b": bank, "p": product, "d": as_of},
        ).first()
        if done:
            log.info(
                "bank %s/%s %s already delivered as %s; nothing re-sent", bank, product, as_of, done.data_file
            )
            return DropResult(
                bank,
                product,
                as_of.isoformat(),
                "already_delivered",
                done.row_count,
                [done.data_file, done.manifest_file],
            )
        rows = (
            conn.execute(
                sa.text("""select * from marts.bank_referral
                       where as_of_date = :d and bank_code = :b and product_code = :p order by uscc"""),
                {"d": as_of, "b": bank, "p": product},
            )
            .mappings()
            .all()
        )

    seq = 1
    stem = file_stem(settings, bank, as_of, seq)
    plaintext = build_csv(list(rows))
    cipher = settings.bank.cipher(bank)
    if cipher == "gpg":
        payload = zgpg.encrypt_and_sign(settings, plaintext, bank)
        data_name = f"{stem}.csv.gpg"
    else:
        payload = plaintext
        data_name = f"{stem}.csv"
    manifest = {
        "batch_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"zxt:{bank}:{product}:{as_of}:{seq}")),
        "schema_version": SCHEMA_VERSION,
        "sender": settings.bank.sender_code,
        "bank_code": bank,
        "product_code": product,
        "business_date": as_of.isoformat(),
        "seq": seq,
        "replaces": None,
        "cipher": cipher,
        "files": [
            {
                "name": data_name,
                "bytes": len(payload),
                "row_count": len(rows),
                "plaintext_sha256": hashlib.sha256(plaintext).hexdigest(),
                "ciphertext_sha256": hashlib.sha256(payload).hexdigest() if cipher != "none" else None,
            }
        ],
    }
    manifest_name = f"{stem}.manifest.json"
    manifest_bytes = json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")
    try:
        bank_upload.deliver_files(
            settings,
            bank,
            settings.bank.sftp_password(bank),
            [(data_name, payload), (manifest_name, manifest_bytes)],
            marker_name=f"{stem}.ok",
        )
        status = "delivered"
    except FileExistsError:
        # Delivered before but not recorded (a crash between upload and ledger): never overwrite;
        # adopt the delivered set only if its manifest describes the same plaintext.
        _reconcile(settings, bank, manifest_name, manifest, marker_name=f"{stem}.ok")
        status = "already_delivered"
    with engine.begin() as conn:
        conn.execute(
            sa.text("""insert into delivery.bank_ledger (bank_code, product_code, business_date, seq, data_file,
                         manifest_file, row_count, plaintext_sha256, ciphertext_sha256, status)
                       values (:b, :p, :d, :s, :f, :m, :n, :ph, :ch, 'delivered')"""),
            {
                "b": bank,
                "p": product,
                "d": as_of,
                "s": seq,
                "f": data_name,
                "m": manifest_name,
                "n": len(rows),
                "ph": manifest["files"][0]["plaintext_sha256"],
                "ch": manifest["files"][0]["ciphertext_sha256"],
            },
        )
    log.info("bank %s/%s %s: %s %s (%d rows)", bank, product, as_of, status, data_name, len(rows))
    return DropResult(bank, product, as_of.isoformat(), status, len(rows), [data_name, manifest_name])


def _reconcile(settings: Settings, bank: str, manifest_name: str, manifest: dict, marker_name: str) -> None:
    try:
        remote = json.loads(
            bank_upload.read_file(settings, bank, settings.bank.sftp_password(bank), manifest_name)
        )
    except (OSError, ValueError) as exc:
        raise RuntimeError(
            f"{manifest_name}: files of this batch already exist in {bank}'s inbox but the manifest cannot be "
            f"read ({exc}); check the inbox by hand before re-delivering with a new seq"
        ) from exc
    ours = manifest["files"][0]["plaintext_sha256"]
    theirs = (remote.get("files") or [{}])[0].get("plaintext_sha256")
    if theirs != ours:
        raise RuntimeError(
            f"{manifest_name}: {bank}'s inbox holds a different delivery for this business date "
            f"(plaintext sha256 {theirs} vs {ours}); re-deliver with a new seq and `replaces`"
        )
    manifest["files"][0]["ciphertext_sha256"] = remote["files"][0].get("ciphertext_sha256")
    password = settings.bank.sftp_password(bank)
    inbox = set(bank_upload.list_inbox(settings, bank, password))
    missing = [f["name"] for f in remote["files"] if f["name"] not in inbox]
    if missing:
        raise RuntimeError(
            f"{manifest_name}: data file(s) {missing} missing from {bank}'s inbox; re-deliver with a new seq"
        )
    if marker_name not in inbox:
        # The upload stopped before its marker: the bank ignores the set until the marker is there.
        bank_upload.deliver_files(settings, bank, password, [], marker_name=marker_name)
