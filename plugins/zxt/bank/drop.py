"""Bank referral drops: one file set per bank product and business date, over SFTP.

The set is ``<sender>_<bank>_REFERRAL_<YYYYMMDD>_<seq>.csv[.gpg]`` + ``.manifest.json`` + ``.ok``
(last). It is written ahead in ``delivery.bank_ledger`` with its exact bytes, then each file is
uploaded unless the inbox already holds it: identical bytes are ours from an interrupted attempt,
and a data file whose manifest in the inbox describes the same plaintext is an earlier delivery of
ours (adopted). Anything else under our names is a conflict for a person: nothing is overwritten,
and ``redeliver`` sends the next ``seq`` with ``replaces``. A delivered date is never sent again.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import date

import asyncssh
import sqlalchemy as sa

from zxt.bank import authorisations, ledger, referral_file
from zxt.bank import pgp as zgpg
from zxt.bank import sftp as bank_upload
from zxt.core.errors import DeliveryConflict, NeedsOperator, ZxtError
from zxt.core.settings import Settings, get_settings
from zxt.warehouse import migrate, published
from zxt.warehouse import server as warehouse

log = logging.getLogger(__name__)
MART = "bank_referral"
SCHEMA_VERSION = referral_file.SCHEMA_VERSION
FIELDS = referral_file.FIELDS


class BankDeliveryError(ZxtError):
    """The bank's SFTP server could not be reached or refused an operation; a rerun resumes."""


@dataclass
class DropResult:
    bank_code: str
    product_code: str
    business_date: str
    status: str  # delivered | already_delivered | unchanged
    rows: int
    files: list[str]
    seq: int = 1


def deliver_bank_referrals(
    as_of: date,
    settings: Settings | None = None,
    *,
    redeliver: bool = False,
    only: tuple[str | None, str | None] = (None, None),
) -> list[DropResult]:
    """Deliver each bank product's file for ``as_of`` (a published date); ``redeliver`` sends the next
    seq where the latest set conflicts or the data changed. ``only`` = (bank, product) filters."""
    settings = settings or get_settings()
    engine = warehouse.engine(settings, role="delivery")
    migrate.ensure_current(engine)
    with engine.connect() as conn:
        if not published.is_published(conn, as_of, MART):
            raise NeedsOperator(f"{MART} is not published for {as_of}: no bank file is built from it")
        products = conn.execute(
            sa.text(
                "select bank_code, product_code from rules.bank_products order by bank_code, product_code"
            )
        ).all()
    bank, product = only
    return [
        _deliver_product(engine, settings, b, p, as_of, redeliver)
        for b, p in products
        if bank in (None, b) and product in (None, p)
    ]


def _deliver_product(
    engine: sa.Engine, settings: Settings, bank: str, product: str, as_of: date, redeliver: bool
) -> DropResult:
    with engine.connect() as conn:
        last = ledger.latest(conn, bank, product, as_of)
        rows = (
            conn.execute(
                sa.text(f"""select * from marts.{MART}
                       where as_of_date = :d and bank_code = :b and product_code = :p order by uscc"""),
                {"d": as_of, "b": bank, "p": product},
            )
            .mappings()
            .all()
        )
        lapsed = authorisations.lapsed_rows(conn, as_of, bank, product, settings.clock.today())
    plaintext = referral_file.build_csv(rows)
    digest = hashlib.sha256(plaintext).hexdigest()
    if (
        last is not None
        and last.status in ledger.DONE
        and not (redeliver and last.plaintext_sha256 != digest)
    ):
        status = "already_delivered" if not redeliver else "unchanged"
        log.info("bank %s/%s %s: seq %02d %s; nothing sent", bank, product, as_of, last.seq, status)
        return DropResult(
            bank,
            product,
            as_of.isoformat(),
            status,
            last.row_count,
            [last.data_file, last.manifest_file],
            last.seq,
        )
    if last is not None and last.status == "conflict" and not redeliver:
        raise DeliveryConflict(_conflict_help(last, "an earlier attempt found different files in the inbox"))
    if lapsed:
        shown = "; ".join(f"{x.uscc} ({x.authorisation_id}): {x.reason}" for x in lapsed[:10])
        raise DeliveryConflict(
            f"bank {bank}/{product} {as_of}: {len(lapsed)} row(s) have no current authorisation for {bank} "
            f"today ({settings.clock.today()}): {shown}. The file is refused; rebuild the date from the current "
            f"authorisations (zxt dbt build -d {as_of}, then gate and publish) before delivering."
        )
    if last is not None and last.status == "prepared":
        entry = last
        if entry.plaintext_sha256 != digest:  # rebuilt since it was prepared: prepare afresh if nothing left
            entry = _prepare(
                engine, settings, bank, product, as_of, entry.seq, entry.replaces, plaintext, len(rows)
            )
    else:
        seq, replaces = (last.seq + 1, last.seq) if last is not None else (1, None)
        entry = _prepare(engine, settings, bank, product, as_of, seq, replaces, plaintext, len(rows))
    _complete(engine, settings, entry)
    log.info("bank %s/%s %s: delivered %s (%d rows)", bank, product, as_of, entry.data_file, entry.row_count)
    return DropResult(
        bank,
        product,
        as_of.isoformat(),
        "delivered",
        entry.row_count,
        [entry.data_file, entry.manifest_file],
        entry.seq,
    )


def _prepare(
    engine: sa.Engine,
    settings: Settings,
    bank: str,
    product: str,
    as_of: date,
    seq: int,
    replaces: int | None,
    plaintext: bytes,
    row_count: int,
) -> ledger.Entry:
    stem = referral_file.file_stem(settings.bank.sender_code, bank, as_of, seq)
    cipher = settings.bank.cipher(bank)
    if cipher == "gpg":
        payload, data_name = zgpg.encrypt_and_sign(settings, plaintext, bank), f"{stem}.csv.gpg"
    else:
        payload, data_name = plaintext, f"{stem}.csv"
    manifest = referral_file.manifest_bytes(
        sender=settings.bank.sender_code,
        bank_code=bank,
        product_code=product,
        business_date=as_of,
        seq=seq,
        replaces=replaces,
        cipher=cipher,
        data_name=data_name,
        plaintext=plaintext,
        payload=payload,
        row_count=row_count,
    )
    entry = ledger.Entry(
        bank,
        product,
        as_of,
        seq,
        "prepared",
        data_name,
        f"{stem}.manifest.json",
        f"{stem}.ok",
        row_count,
        hashlib.sha256(plaintext).hexdigest(),
        hashlib.sha256(payload).hexdigest() if cipher != "none" else None,
        replaces,
        payload,
        manifest,
    )
    with engine.begin() as conn:
        ledger.prepare(conn, entry)
    return entry


def _complete(engine: sa.Engine, settings: Settings, e: ledger.Entry) -> None:
    """Bring the inbox to data + manifest + marker of ``e``, whatever an earlier attempt left."""
    password = settings.bank.sftp_password(e.bank_code)
    names = [e.data_file, e.manifest_file, e.marker_file]
    try:
        inbox = bank_upload.fetch(settings, e.bank_code, password, names)
        data, manifest = inbox[e.data_file], inbox[e.manifest_file]
        if data is not None and data != e.payload:
            if not referral_file.describes(manifest, e.plaintext_sha256, data):
                _conflict(engine, e, f"{e.data_file} in the inbox is not the file prepared for this seq")
            with engine.begin() as conn:  # an earlier delivery of the same plaintext: keep it
                ledger.adopt(conn, e, data, manifest, "adopted the inbox's earlier delivery of the same data")
        elif manifest is not None and manifest != e.manifest:
            _conflict(engine, e, f"{e.manifest_file} in the inbox describes other data")
        ours = [(e.data_file, e.payload), (e.manifest_file, e.manifest), (e.marker_file, b"")]
        present = [inbox[n] is not None for n, _ in ours]
        if any(present[i] and not present[i - 1] for i in (1, 2)):
            # Files come data → manifest → marker: a later one without an earlier one is not our doing.
            _conflict(
                engine, e, f"the inbox holds {[n for n, _ in ours if inbox[n] is not None]} out of order"
            )
        bank_upload.put_missing(
            settings, e.bank_code, password, [(n, c) for n, c in ours if inbox[n] is None]
        )
    except (asyncssh.Error, OSError) as exc:  # includes SFTPError, refused connections, FileExistsError
        raise BankDeliveryError(
            f"SFTP delivery of {e.data_file} to {e.bank_code} failed ({type(exc).__name__}: {exc}); it stays "
            "prepared in delivery.bank_ledger and a rerun of the bank drop completes it"
        ) from exc
    with engine.begin() as conn:
        ledger.finish(conn, e, "delivered")


def _conflict(engine: sa.Engine, e: ledger.Entry, what: str) -> None:
    with engine.begin() as conn:
        ledger.finish(conn, e, "conflict", what)
    raise DeliveryConflict(_conflict_help(e, what))


def _conflict_help(e: ledger.Entry, what: str) -> str:
    return (
        f"bank {e.bank_code}/{e.product_code} {e.business_date} seq {e.seq:02d}: {what}. Nothing was "
        "overwritten. Check the inbox with the bank, then deliver under the next sequence number: "
        f"zxt bank-drop -d {e.business_date} --redeliver --bank {e.bank_code} --product {e.product_code}"
    )
