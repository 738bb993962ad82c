"""What a business date produced, for the demo and for `zxt summary`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

from zxt.bank import sftp as bank_upload
from zxt.core.settings import Settings, get_settings
from zxt.ingest import contracts
from zxt.warehouse import gate_log, published
from zxt.warehouse import server as warehouse


@dataclass
class Summary:
    as_of_date: str
    raw_rows: dict[str, int] = field(default_factory=dict)
    rejects: list[tuple[str, str, int]] = field(default_factory=list)
    layer_rows: dict[str, int] = field(default_factory=dict)
    warnings: list[tuple] = field(default_factory=list)
    levels: list[tuple] = field(
        default_factory=list
    )  # (level, projected, last published) from credit_outlook
    sources: dict[str, list[str]] = field(default_factory=dict)  # errors / warnings of the source gate
    gates: dict[str, dict] = field(default_factory=dict)  # mart -> latest mart gate verdict
    published: dict[str, bool] = field(default_factory=dict)  # mart -> published for the date
    outbox: dict[str, int] = field(default_factory=dict)
    # channel -> status -> messages (fallbacks counted on the channel they went by)
    outbox_by_channel: dict[str, dict[str, int]] = field(default_factory=dict)
    replies: dict[str, int] = field(default_factory=dict)  # replies received / of which opt-outs
    followups: int = 0  # reminders marked for an officer's phone call
    gateway_accepted: int | None = None
    bank_ledger: list[tuple] = field(default_factory=list)
    sftp_files: dict[str, list[str]] = field(default_factory=dict)


def _count(conn: sa.Connection, sql: str, **params) -> int:
    try:
        with conn.begin_nested():
            return int(conn.execute(sa.text(sql), params).scalar() or 0)
    except sa.exc.ProgrammingError:
        return 0


def collect(as_of: date, settings: Settings | None = None) -> Summary:
    settings = settings or get_settings()
    s = Summary(as_of.isoformat())
    engine = warehouse.engine(settings)
    with engine.connect() as conn:
        for ds in contracts.load_contracts().values():
            s.raw_rows[f"raw.{ds.raw_table}"] = _count(conn, f"select count(*) from raw.{ds.raw_table}")
        s.rejects = [
            tuple(r)
            for r in conn.execute(
                sa.text("select dataset, rule, count(*) from raw.rejects group by 1, 2 order by 1, 2")
            ).all()
        ]
        for name in ("stg.stg_tax__taxpayers", "stg.stg_tax__filings", "int.int_filings__expected_vs_actual"):
            s.layer_rows[name] = _count(conn, f"select count(*) from {name}")
        # Every partitioned mart the dbt project built (new marts show up without a change here).
        marts = conn.execute(
            sa.text(
                """select c.table_name from information_schema.columns as c
                   join information_schema.tables as t using (table_schema, table_name)
                   where c.table_schema = 'marts' and c.column_name = 'as_of_date'
                     and t.table_type = 'BASE TABLE' order by 1"""
            )
        ).scalars()
        for name in marts:
            s.layer_rows[f"marts.{name} [{as_of}]"] = _count(
                conn, f'select count(*) from marts."{name}" where as_of_date = :d', d=as_of
            )
        try:
            with conn.begin_nested():
                s.levels = [
                    tuple(r)
                    for r in conn.execute(
                        sa.text(
                            """with p as (select projected_level as level, count(*) as n from marts.credit_outlook
                                           where as_of_date = :d group by 1),
                                    l as (select previous_level as level, count(*) as n from marts.credit_outlook
                                          where as_of_date = :d group by 1)
                               select coalesce(p.level, l.level), coalesce(p.n, 0), coalesce(l.n, 0)
                               from p full join l on p.level = l.level
                               order by array_position(array['A', 'B', 'M', 'C', 'D'], coalesce(p.level, l.level))"""
                        ),
                        {"d": as_of},
                    ).all()
                ]
        except sa.exc.ProgrammingError:
            s.levels = []
        try:
            with conn.begin_nested():
                s.warnings = [
                    tuple(r)
                    for r in conn.execute(
                        sa.text(
                            """select warning_type, count(*), count(distinct uscc), sum(projected_deduction),
                                  sum(restorable_points), count(*) filter (where sms_reachable)
                           from marts.credit_warning where as_of_date = :d group by 1 order by 1"""
                        ),
                        {"d": as_of},
                    ).all()
                ]
        except sa.exc.ProgrammingError:
            s.warnings = []
        s.sources = {
            severity: [
                f"{name}: {reason}"
                for name, reason in conn.execute(
                    sa.text(
                        """select check_name, observed->>'reason' from ops.gate_results
                           where run_id = (select run_id from ops.gate_results
                                           where as_of_date = :d and gate = :g order by checked_at desc limit 1)
                             and mart is null and severity = :s order by check_name"""
                    ),
                    {"d": as_of, "g": gate_log.SOURCE_GATE, "s": severity},
                ).all()
            ]
            for severity in ("error", "warning")
        }
        for mart, verdict in gate_log.latest_verdicts(conn, as_of, gate_log.MART_GATE).items():
            failed = [
                f"{r.check_name} ({(r.observed or {}).get('reason') or (r.observed or {}).get('unexpected_count', (r.observed or {}).get('observed_value'))})"
                for r in gate_log.run_rows(conn, verdict.run_id)
                if not r.success and r.check_name != gate_log.VERDICT
            ]
            s.gates[mart] = {"status": verdict.status, "rows": verdict.observed.get("rows"), "failed": failed}
        s.published = {m: published.is_published(conn, as_of, m) for m in s.gates}
        s.outbox = dict(
            conn.execute(
                sa.text("select status, count(*) from delivery.outbox where as_of_date = :d group by 1"),
                {"d": as_of},
            ).all()
        )
        s.bank_ledger = [
            tuple(r)
            for r in conn.execute(
                sa.text(
                    "select bank_code, product_code, data_file, row_count, status from delivery.bank_ledger "
                    "where business_date = :d order by 1, 2"
                ),
                {"d": as_of},
            ).all()
        ]
        for channel, status, n in conn.execute(
            sa.text(
                "select channel, status, count(*) from delivery.outbox where as_of_date = :d group by 1, 2"
            ),
            {"d": as_of},
        ).all():
            s.outbox_by_channel.setdefault(channel, {})[status] = n
        s.replies = {
            "replies": _count(conn, "select count(*) from delivery.replies"),
            "opt-outs": _count(conn, "select count(*) from delivery.replies where opt_out"),
        }
        s.followups = _count(
            conn, "select count(*) from delivery.followups where as_of_date = :d and done_at is null", d=as_of
        )
    s.gateway_accepted = _gateway_accepted(settings)
    for bank in sorted({row[0] for row in s.bank_ledger}):
        try:
            s.sftp_files[bank] = bank_upload.list_inbox(settings, bank, settings.bank.sftp_password(bank))
        except (OSError, Exception):  # the SFTP server may not be running outside the demo
            s.sftp_files[bank] = [
                f"(server not reachable; inbox folder {settings.paths.sftp_dir / 'root' / bank})"
            ]
    return s


def _gateway_accepted(settings: Settings) -> int | None:
    record = settings.paths.run_dir / "sms-messages.jsonl"
    if not record.exists():
        return None
    with record.open(encoding="utf-8") as fh:
        return sum(1 for line in fh if line.strip() and json.loads(line))


def print_summary(as_of: date, console: Console, settings: Settings | None = None) -> Summary:
    settings = settings or get_settings()
    s = collect(as_of, settings)
    console.rule(f"[bold]增信通 — business date {s.as_of_date}")

    t = Table("layer / table", "rows", title="Rows per layer")
    for name, n in {**s.raw_rows, **s.layer_rows}.items():
        t.add_row(name, f"{n:,}")
    console.print(t)

    t = Table("dataset", "rule", "rows", title="Rejected input rows (raw.rejects)")
    for ds, rule, n in s.rejects:
        t.add_row(ds, rule, f"{n:,}")
    if not s.rejects:
        t.add_row("—", "none", "0")
    console.print(t)

    t = Table(
        "warning type",
        "rows",
        "enterprises",
        "projected deduction",
        "restorable",
        "SMS-reachable",
        title="Credit warnings (marts.credit_warning)",
    )
    for w in s.warnings:
        t.add_row(w[0], f"{w[1]:,}", f"{w[2]:,}", f"{w[3]:,}", f"{w[4]:,}", f"{w[5]:,}")
    console.print(t)

    if s.levels:
        total_p = sum(r[1] for r in s.levels) or 1
        total_l = sum(r[2] for r in s.levels) or 1
        t = Table(
            "level",
            "projected",
            "share",
            "last published",
            "share",
            title=f"Credit levels (marts.credit_outlook, evaluation year {as_of.year})",
        )
        for level, projected, last in s.levels:
            t.add_row(
                level or "(none)",
                f"{projected:,}",
                f"{100 * projected / total_p:.1f} %",
                f"{last:,}",
                f"{100 * last / total_l:.1f} %",
            )
        console.print(t)

    for severity, colour in (("error", "red"), ("warning", "yellow")):
        for line in s.sources.get(severity, []):
            console.print(f"Source gate [{colour}]{severity}[/]: {line}")
    if not s.gates:
        console.print("Mart gates: not run")
    for mart, g in s.gates.items():
        colour = {"passed": "green", "blocked": "yellow"}.get(g["status"], "red")
        failed = f" — {'; '.join(g['failed'])}" if g["failed"] else ""
        console.print(
            f"Mart gate {mart}: [{colour}]{g['status']}[/] ({g['rows']} rows){failed}   "
            f"Published: {'yes' if s.published.get(mart) else 'no'}"
        )
    console.print(f"Reminders in outbox: {s.outbox or 'none'}")
    if s.outbox_by_channel:
        columns = ("queued", "submitted", "delivered", "failed", "unknown", "suppressed", "expired", "dead")
        t = Table("channel", *columns, title="Reminders by channel (delivered / failed from receipts)")
        for channel, counts in sorted(s.outbox_by_channel.items()):
            t.add_row(channel, *(f"{counts.get(c, 0):,}" for c in columns))
        console.print(t)
        console.print(
            f"Replies received: {s.replies.get('replies', 0)} ({s.replies.get('opt-outs', 0)} opt-out); "
            f"reminders for phone follow-up: {s.followups}"
        )
    if s.outbox.get("queued"):
        console.print("  (queued = due later: a per-number daily cap or a provider limit rescheduled them)")
    accepted = "simulator record not found" if s.gateway_accepted is None else f"{s.gateway_accepted:,}"
    console.print(f"Messages accepted by the SMS gateway: {accepted}")
    for bank, product, data_file, rows, status in s.bank_ledger:
        console.print(f"Bank drop {bank}/{product}: {data_file} ({rows:,} rows, {status})")
    for bank, files in s.sftp_files.items():
        console.print(f"SFTP inbox of {bank}: {', '.join(files) or '(empty)'}")

    pg = settings.warehouse.pg
    console.rule("Where to look")
    console.print(
        f"warehouse   psql 'postgresql://{pg.user}:{pg.password if settings.warehouse.embedded else '***'}@{pg.host}:{pg.port}/{pg.dbname}'\n"
        "            officers: marts.<mart>_current views (masked; `zxt marts` lists them)\n"
        "            rejects: raw.rejects; loads: ops.load_batches; gates: ops.gate_results; outbox: delivery.outbox\n"
        "            receipts: delivery.receipts; replies: delivery.replies; follow-ups: delivery.followups;"
        " rates: ops.delivery_rates\n"
        f"landing     {settings.paths.landing}\n"
        f"archive     {settings.paths.archive}\n"
        f"SFTP inbox  {settings.paths.sftp_dir / 'root'}\n"
        f"SMS record  {settings.paths.run_dir / 'sms-messages.jsonl'}\n"
        f"Airflow     {settings.paths.airflow_home} (logs: {settings.paths.run_dir})"
    )
    return s
