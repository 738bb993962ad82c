"""End to end: a small generated county through `airflow dags test` of zxt_nightly and the relay,
against the embedded warehouse, the SMS gateway and WeChat simulators over HTTP and the bank SFTP
server.

One scenario, asserted step by step: first run of the current business date; a rerun of the same
date (nothing sent twice); a backfilled past date (rebuilt, nothing sent).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support import free_port, gated_marts, reset_warehouse

pytestmark = pytest.mark.e2e

AS_OF = date(2026, 11, 12)
ENTERPRISES = 400


@pytest.fixture(scope="module")
def county(engine, tmp_path_factory):
    """Generate the county, start the loopback servers, and return a runner for DAG tests."""
    from zxt.bank import pgp as zgpg
    from zxt.core.settings import get_settings, reset_settings
    from zxt.orchestration import airflow_env
    from zxt.transform import dbt_runner as dbt_cli
    from zxt_sandbox import bank_keys, sftp_server, synth, wechat_gateway
    from zxt_sandbox import sms_gateway as simulator
    from zxt_sandbox.demo import bank_codes

    reset_warehouse(engine)
    shutil.rmtree(get_settings().paths.sftp_dir / "root", ignore_errors=True)  # bank inboxes of earlier runs
    landing = tmp_path_factory.mktemp("landing")
    work = tmp_path_factory.mktemp("e2e")
    sms_port, sftp_port, wechat_port = free_port(), free_port(), free_port()
    env = {
        "ZXT_LANDING_DIR": str(landing),
        "ZXT_ARCHIVE_DIR": str(work / "archive"),
        "ZXT_TODAY": (AS_OF + timedelta(days=1)).isoformat(),
        "ZXT_SMS_ENDPOINT": f"http://127.0.0.1:{sms_port}/",
        "ZXT_WECHAT_ENDPOINT": f"http://127.0.0.1:{wechat_port}",
        "ZXT_SFTP_PORT": str(sftp_port),
        "ZXT_SFTP_KNOWN_HOSTS": str(work / "known_hosts"),
        "ZXT_GNUPG_HOME": str(work / "gnupg"),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    reset_settings()
    settings = get_settings()
    summary = synth.generate(
        landing, AS_OF - timedelta(days=2), AS_OF, enterprises=ENTERPRISES, seed=7, inject_bad_rows=True
    )
    banks = bank_codes()
    bank_keys.ensure_demo_keys(settings, banks)
    sftp_server.ensure_server_files(settings, {b: settings.bank.sftp_password(b) for b in banks})
    sftp = sftp_server.serve_in_thread(settings, "127.0.0.1", sftp_port)
    sms = simulator.SimulatorHandle.start(
        simulator.default_config(settings), "127.0.0.1", sms_port, record=work / "sms.jsonl"
    )
    wechat = wechat_gateway.WeChatHandle.start(
        wechat_gateway.default_config(settings), "127.0.0.1", wechat_port
    )
    dbt_cli.parse(settings)
    airflow_env.ensure_db(settings)

    def dag_test(dag_id: str, when: str) -> str:
        # The relay acts on the bureau's clock, which the test sets to the run's time.
        extra = {"ZXT_NOW": when} if dag_id == "zxt_outreach_relay" else None
        result = airflow_env.run(["dags", "test", dag_id, when], settings, extra=extra, capture=True)
        out = result.stdout + result.stderr
        (work / f"{dag_id}-{when.replace(':', '')}.log").write_text(out)
        finished = out.split("DagRun Finished")[-1]
        assert result.returncode == 0 and "state=success" in finished, (
            f"{dag_id} {when} failed:\n{out[-4000:]}"
        )
        return out

    yield {
        "settings": settings,
        "sms": sms,
        "wechat": wechat,
        "summary": summary,
        "dag_test": dag_test,
        "engine": engine,
    }
    sms.close()
    wechat.close()
    sftp.stop()
    zgpg.shutdown_agent(settings)
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    reset_settings()


def q(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).all()


def scalar(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def inbox(settings, bank: str) -> dict[str, bytes]:
    from zxt.bank import sftp as bank_upload

    password = settings.bank.sftp_password(bank)
    return {
        n: bank_upload.read_file(settings, bank, password, n)
        for n in bank_upload.list_inbox(settings, bank, password)
    }


@pytest.fixture(scope="module")
def first_run(county):
    county["nightly_log"] = county["dag_test"]("zxt_nightly", AS_OF.isoformat())
    county["dag_test"](
        "zxt_outreach_relay", f"{AS_OF + timedelta(days=1)}T02:00:00+00:00"
    )  # 10:00 in Guangshui
    return county


def test_every_input_row_is_loaded_or_rejected_with_a_reason(first_run):
    engine = first_run["engine"]
    loaded = dict(q(engine, "select dataset, sum(rows_loaded) from ops.load_batches group by 1"))
    rejected = dict(q(engine, "select dataset, count(*) from raw.rejects group by 1"))
    for name, count in first_run["summary"].datasets.items():
        assert loaded[name] >= count.rows  # the good files load whole
    # The injected bad files: two bad check digits and a bad mobile, a UTF-8 file under a GB18030
    # contract, and a consents file without its `channel` column.
    rules = {(d, r) for d, r, _ in q(engine, "select dataset, rule, count(*) from raw.rejects group by 1, 2")}
    assert ("tax/taxpayers", "uscc") in rules
    assert ("tax/taxpayers", "mobile") in rules
    assert ("tax/filings", "encoding") in rules
    assert ("contact/consents", "missing_column") in rules
    assert rejected["tax/taxpayers"] == 3 and rejected["contact/consents"] == 2
    reasons = [r for (r,) in q(engine, "select reason from raw.rejects where dataset = 'contact/consents'")]
    assert all("channel" in r for r in reasons)
    rows = q(
        engine, "select source_file, row_number from raw.rejects where dataset = 'tax/taxpayers' order by 2"
    )
    assert [r.row_number for r in rows] == [2, 3, 4] and all(r.source_file.endswith("_bad.csv") for r in rows)
    # Every original file is archived under its SHA-256.
    for _source, sha, archived in q(
        engine, "select source_file, sha256, archived_path from ops.load_batches"
    ):
        assert Path(archived).exists() and Path(archived).name.startswith(sha[:16])


def test_marts_are_built_gated_and_published(first_run):
    engine = first_run["engine"]
    by_type = dict(
        q(
            engine,
            "select warning_type, count(*) from marts.credit_warning where as_of_date = :d group by 1",
            d=AS_OF,
        )
    )
    # 2026-11-12: October returns are due 2026-11-16, inside the 7-day horizon; some are long overdue.
    assert by_type.get("filing_due_soon", 0) > 0 and by_type.get("filing_overdue", 0) > 0
    # One mapped gate per gated mart of the registry, each recorded with its verdict; the date published whole.
    verdicts = dict(
        q(
            engine,
            """select distinct on (mart) mart, observed->>'status' from ops.gate_results
               where as_of_date = :d and gate = 'mart' and check_name = 'verdict' order by mart, checked_at desc""",
            d=AS_OF,
        )
    )
    assert verdicts == dict.fromkeys(gated_marts(), "passed")
    log = first_run["nightly_log"]
    assert (
        "mart gate credit_warning 2026-11-12: PASSED" in log
        and "mart gate bank_referral 2026-11-12: PASSED" in log
    )
    assert scalar(engine, "select count(*) from ops.publish_log where as_of_date = :d", d=AS_OF) == 1
    assert scalar(engine, "select count(*) from ops.publish_marts where as_of_date = :d", d=AS_OF) == len(
        gated_marts()
    )
    masked = q(
        engine,
        "select contact_mobile from marts.credit_warning_current where contact_mobile is not null limit 20",
    )
    assert masked and all("****" in m for (m,) in masked)


def test_reminders_sent_once_to_consenting_numbers_without_finance_wording(first_run):
    engine, sms, wechat = first_run["engine"], first_run["sms"], first_run["wechat"]
    staged = dict(
        q(engine, "select channel, count(*) from delivery.outbox where as_of_date = :d group by 1", d=AS_OF)
    )
    # One channel per reminder: WeChat for followers of the official account, SMS otherwise.
    expected = dict(
        q(
            engine,
            """select case when c.wechat_reachable then 'wechat' else 'sms' end, count(*)
               from marts.credit_warning w join int.int_contacts__reachable c using (uscc)
               where w.as_of_date = :d and (w.warning_type = 'filing_due_soon' or w.days_late <= 90)
                 and (c.wechat_reachable or (w.sms_reachable and zxt.is_mobile(w.contact_mobile)))
               group by 1""",
            d=AS_OF,
        )
    )
    assert staged == expected and staged["sms"] > 0 and staged["wechat"] > 0
    submitted = dict(
        q(engine, "select channel, count(*) from delivery.outbox where status = 'submitted' group by 1")
    )
    assert len(wechat.messages()) == submitted["wechat"] > 0
    assert all(len(v) <= 20 and "\n" not in v for m in wechat.messages() for v in m["values"].values())
    messages = sms.messages()
    assert len(messages) == submitted["sms"] > 0
    opted_out = {
        m
        for (m,) in q(
            engine,
            """select contact_mobile from (
        select distinct on (contact_mobile) contact_mobile, event_type from raw.contact__consents
        where channel = 'sms' order by contact_mobile, event_date desc, event_id desc) x
        where event_type = 'opt_out'""",
        )
    }
    phones = [m["phone"].removeprefix("+86") for m in messages]
    assert not opted_out & set(phones)
    for m in messages:
        assert not any(w in m["text"] for w in ("贷", "银行", "征信", "融资"))
    # Every message reached the gateway within 08:00–21:00 on the bureau's clock and inside its validity window.
    outside = scalar(
        engine,
        """select count(*) from delivery.outbox where status = 'submitted'
           and (submitted_at < valid_from or submitted_at >= valid_until
                or (submitted_at at time zone 'Asia/Shanghai')::time not between '08:00' and '21:00')""",
    )
    assert outside == 0
    assert scalar(engine, "select count(*) from delivery.outbox where status = 'sending'") == 0


def test_bank_file_is_encrypted_complete_and_only_for_authorised_enterprises(first_run):
    from zxt.bank import pgp as zgpg

    settings, engine = first_run["settings"], first_run["engine"]
    files = inbox(settings, "GSRCB")
    stem = f"ZXT_GSRCB_REFERRAL_{AS_OF:%Y%m%d}_01"
    assert set(files) == {f"{stem}.csv.gpg", f"{stem}.manifest.json", f"{stem}.ok"}
    manifest = json.loads(files[f"{stem}.manifest.json"])
    plaintext, signer = zgpg.decrypt_and_verify(settings, files[f"{stem}.csv.gpg"])
    import hashlib

    entry = manifest["files"][0]
    assert hashlib.sha256(plaintext).hexdigest() == entry["plaintext_sha256"]
    assert hashlib.sha256(files[f"{stem}.csv.gpg"]).hexdigest() == entry["ciphertext_sha256"]
    rows = list(csv.DictReader(io.StringIO(plaintext.decode("utf-8"))))
    assert len(rows) == entry["row_count"] > 0
    # Each row is traceable to a current, unrevoked authorisation of this bank.
    current = {
        a
        for (a,) in q(
            engine,
            """select authorisation_id from stg.stg_bank__authorisations
        where bank_code = 'GSRCB' and authorised_date <= :d and expires_date > :d
          and (revoked_date is null or revoked_date > :d)""",
            d=AS_OF,
        )
    }
    assert {r["authorisation_id"] for r in rows} <= current
    assert all(r["credit_level"] in {"A", "B", "M", ""} for r in rows)


def test_rerun_of_the_same_date_sends_nothing_new(first_run):
    settings, engine, sms = first_run["settings"], first_run["engine"], first_run["sms"]
    outbox_before = scalar(engine, "select count(*) from delivery.outbox")
    messages_before = len(sms.messages()) + len(first_run["wechat"].messages())
    files_before = inbox(settings, "GSRCB")
    first_run["dag_test"]("zxt_nightly", AS_OF.isoformat())
    first_run["dag_test"]("zxt_outreach_relay", f"{AS_OF + timedelta(days=1)}T03:00:00+00:00")
    assert scalar(engine, "select count(*) from delivery.outbox") == outbox_before
    assert len(sms.messages()) + len(first_run["wechat"].messages()) == messages_before
    assert inbox(settings, "GSRCB") == files_before
    assert scalar(engine, "select count(*) from delivery.bank_ledger") == 1


def test_backfilled_past_date_rebuilds_data_and_sends_nothing(first_run):
    settings, engine, sms = first_run["settings"], first_run["engine"], first_run["sms"]
    past = AS_OF - timedelta(days=1)
    messages_before = len(sms.messages()) + len(first_run["wechat"].messages())
    files_before = inbox(settings, "GSRCB")
    first_run["dag_test"]("zxt_nightly", past.isoformat())
    assert scalar(engine, "select count(*) from marts.credit_warning where as_of_date = :d", d=past) > 0
    assert scalar(engine, "select count(*) from delivery.outbox where as_of_date = :d", d=past) == 0
    assert scalar(engine, "select count(*) from delivery.bank_ledger where business_date = :d", d=past) == 0
    first_run["dag_test"]("zxt_outreach_relay", f"{AS_OF + timedelta(days=1)}T04:00:00+00:00")
    assert len(sms.messages()) + len(first_run["wechat"].messages()) == messages_before
    assert inbox(settings, "GSRCB") == files_before
    # No look-ahead: returns filed on AS_OF are still open warnings in the partition of the day before.
    filed_later = scalar(
        engine,
        """select count(*) from marts.credit_warning w
           join raw.tax__filings f on f.uscc = w.uscc and f.tax_type = w.tax_type and f.period_start = w.period_start
           where w.as_of_date = :past and f.filed_date = :d""",
        past=past,
        d=AS_OF,
    )
    assert filed_later > 0
