"""Sandbox commands of ``zxt`` (registered through the ``zxt.commands`` entry point):
``synth``, ``sim sms|wechat|sftp``, ``demo``, ``bench``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zxt.cli.common import console, parse_date, progress
from zxt.core.settings import get_settings

sim_app = typer.Typer(help="Loopback stand-ins for external systems (SMS gateway, bank SFTP).")


def synth(
    start: Annotated[str, typer.Option(help="First business date (its drop carries the history).")],
    end: Annotated[str, typer.Option(help="Last business date.")],
    out: Annotated[
        Path | None, typer.Option(help="Landing root (default: ZXT_LANDING_DIR or .zxt/landing).")
    ] = None,
    enterprises: Annotated[int, typer.Option(help="Number of enterprises.")] = 15000,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same files.")] = 42,
    bad_rows: Annotated[bool, typer.Option(help="Add contract-violating files to the last drop.")] = False,
) -> None:
    """Write a synthetic Guangshui county landing zone for a date range."""
    from zxt_sandbox import synth as synth_mod

    target = out or get_settings().paths.landing
    s, e = parse_date(start), parse_date(end)
    with progress() as bar:
        task = bar.add_task("synthesising enterprises", total=None)

        def tick(done: int) -> None:
            bar.update(task, completed=done)

        summary = synth_mod.generate(
            target, s, e, enterprises=enterprises, seed=seed, progress=tick, inject_bad_rows=bad_rows
        )
    for name, count in summary.datasets.items():
        console.print(f"{name:22} {count.files:3} files {count.rows:>10,} rows")
    console.print(f"landing zone: {target}")


@sim_app.command("sms")
def sim_sms(
    port: Annotated[int, typer.Option()] = 18080,
    record: Annotated[Path | None, typer.Option(help="Append accepted messages (JSONL).")] = None,
) -> None:
    """Run the Tencent Cloud SMS gateway simulator on 127.0.0.1 until interrupted."""
    from zxt_sandbox import sms_gateway

    argv = ["--host", "127.0.0.1", "--port", str(port)]
    if record:
        argv += ["--record", str(record)]
    raise typer.Exit(sms_gateway.main(argv))


@sim_app.command("wechat")
def sim_wechat(
    port: Annotated[int, typer.Option()] = 18081,
    callback: Annotated[
        str | None,
        typer.Option(help="URL the job-finish events are pushed to, e.g. http://127.0.0.1:18082/wechat"),
    ] = None,
) -> None:
    """Run the WeChat official-account API simulator on 127.0.0.1 until interrupted."""
    from zxt_sandbox import wechat_gateway

    argv = ["--host", "127.0.0.1", "--port", str(port)]
    if callback:
        argv += ["--callback", callback]
    raise typer.Exit(wechat_gateway.main(argv))


@sim_app.command("sftp")
def sim_sftp(port: Annotated[int, typer.Option()] = 18022) -> None:
    """Run the bank SFTP server on 127.0.0.1 until interrupted (inboxes under .zxt/sftp/root)."""
    from zxt_sandbox import sftp_server

    sftp_server.main(["--host", "127.0.0.1", "--port", str(port)])


def demo(
    date_: Annotated[str, typer.Option("--date", "-d", help="Business date to run.")] = "2026-11-12",
    enterprises: Annotated[int, typer.Option(help="County size.")] = 15000,
) -> None:
    """Generate a county, run zxt_nightly and zxt_outreach_relay for one date, print a summary."""
    from zxt_sandbox import demo as demo_mod

    raise typer.Exit(demo_mod.run(parse_date(date_), enterprises=enterprises, console=console))


def bench(
    enterprises: Annotated[int, typer.Option(help="County size.")] = 15000,
    seed: Annotated[int, typer.Option()] = 42,
) -> None:
    """Benchmark ingest (landing → raw) against PostgreSQL's own COPY, on a separate warehouse."""
    from zxt_sandbox import bench as bench_mod

    with console.status(f"benchmarking ingest of a {enterprises:,}-enterprise county"):
        r = bench_mod.run_ingest(enterprises=enterprises, seed=seed)
    console.print(
        f"county {r.enterprises:,} enterprises: {r.files} files, {r.bytes / 1e6:.1f} MB, synth {r.synth_s:.1f}s\n"
        f"ingest: {r.rows_loaded:,} rows loaded, {r.rows_rejected:,} rejected in {r.ingest_s:.2f}s "
        f"= {r.rows_per_s:,.0f} rows/s\n"
        f"COPY baseline (filings file, untyped): {r.copy_baseline_rows:,} rows in {r.copy_baseline_s:.2f}s "
        f"= {r.copy_rows_per_s:,.0f} rows/s; ingest reaches {r.rows_per_s / r.copy_rows_per_s:.0%} of it"
    )


def bench_filings(
    rows: Annotated[list[int] | None, typer.Option("--rows", help="File sizes (repeatable).")] = None,
) -> None:
    """Province-size filings: validated ingest vs PostgreSQL's plain COPY, UTF-8 and GB18030, peak RSS."""
    from zxt_sandbox import bench_filings as bf

    sizes = rows or [1_000_000, 10_000_000]

    def show(m: bf.Measure) -> None:
        console.print(
            f"  {m.mode:<6} {m.encoding:<8} {m.rows:>11,} rows: {m.seconds:7.1f} s, RSS {m.peak_rss_mb:,.0f} MB"
        )

    with console.status(f"benchmarking filings files of {sizes} rows"):
        results = bf.run(sizes, report=show)
    by = {(m.rows, m.encoding, m.mode): m for m in results}
    for n in sizes:
        for enc in ("utf-8", "gb18030"):
            c, i = by[(n, enc, "copy")], by[(n, enc, "ingest")]
            console.print(
                f"{n:>11,} rows {enc:<8} {c.bytes / 1e6:,.0f} MB: COPY {c.seconds:6.1f} s = {c.rows_per_s:>10,.0f} rows/s "
                f"(RSS {c.peak_rss_mb:,.0f} MB) | ingest {i.seconds:6.1f} s = {i.rows_per_s:>10,.0f} rows/s "
                f"(RSS {i.peak_rss_mb:,.0f} MB) | {i.rows_per_s / c.rows_per_s:.0%} of COPY",
                highlight=False,
            )


def bench_feedback(
    messages: Annotated[int, typer.Option(help="Submitted messages to settle per path.")] = 20000,
) -> None:
    """Receipts: pushed to the callback receiver over HTTP, pulled by the feedback run, pushed twice."""
    from zxt_sandbox import bench_feedback as bfb

    with console.status(f"benchmarking receipts for {messages:,} messages"):
        r = bfb.run(messages)
    console.print(
        f"pushed (HTTP, {bfb.PUSH_BATCH} reports per POST): {r.pushed_delivered:,} of {r.messages:,} delivered in "
        f"{r.push_s:.2f}s = {r.per_s(r.push_s):,.0f} receipts/s\n"
        f"pulled (PullSmsSendStatus, pages of 100, feedback run): {r.pulled_delivered:,} of {r.messages:,} "
        f"delivered in {r.pull_s:.2f}s = {r.per_s(r.pull_s):,.0f} receipts/s\n"
        f"the pushed reports again: {r.duplicate_s:.2f}s, rows changed: {r.changed_by_duplicates}",
        highlight=False,
    )


def calibrate_gates(
    start: Annotated[str, typer.Option(help="First business date.")] = "2026-09-25",
    end: Annotated[str, typer.Option(help="Last business date.")] = "2026-11-24",
    enterprises: Annotated[int, typer.Option(help="County size.")] = 2000,
    history: Annotated[int, typer.Option(help="Days in the median (ZXT_GATE_ROW_HISTORY).")] = 3,
) -> None:
    """Build the gated marts for every date of a range; report how far legitimate days move from the
    median of the previous ones (what the row-count band must allow)."""
    from zxt_sandbox import gate_calibration

    for s in gate_calibration.run(parse_date(start), parse_date(end), enterprises=enterprises):
        ratios = s.ratios(history)
        low, high = min(ratios, key=lambda r: r[1]), max(ratios, key=lambda r: r[1])
        console.print(
            f"{s.mart}: {min(s.counts.values()):,}–{max(s.counts.values()):,} rows a day; against the median of "
            f"the previous {history}: lowest {low[1]:.2f} ({low[0]}), highest {high[1]:.2f} ({high[0]})"
        )


def bench_night(
    date_: Annotated[
        str, typer.Option("--date", "-d", help="Business date (its drops must be landed).")
    ] = "2026-11-12",
) -> None:
    """Wall time of one zxt_nightly run under the real scheduler (starts `zxt airflow up` if needed)."""
    from zxt_sandbox import bench_night as bench_mod

    with console.status(f"zxt_nightly for {date_} under the scheduler"):
        t = bench_mod.run(parse_date(date_))
    console.print(f"{t.run_id}: {t.state} in {t.wall_s:.0f}s wall, {t.tasks} task instances")
    for name, secs in t.slowest:
        console.print(f"  {name:40} {secs:6.1f}s")


def bench_relay(
    reminders: Annotated[int, typer.Option(help="Staged reminders to send.")] = 100_000,
    workers: Annotated[int, typer.Option(help="Relay worker processes.")] = 4,
    in_flight: Annotated[int, typer.Option(help="Requests each worker keeps in flight.")] = 8,
    shared: Annotated[
        bool, typer.Option(help="Same template and parameters for all (batches of 200 numbers per SendSms).")
    ] = False,
    simulator_only: Annotated[
        bool, typer.Option(help="Measure the SMS gateway simulator alone (the relay's client, no warehouse).")
    ] = False,
) -> None:
    """Benchmark the relay's real code path through the SMS gateway simulator (docs/benchmarks.md)."""
    from zxt_sandbox import bench_relay as b

    if simulator_only:
        for numbers in (1, 200):
            r = b.run_simulator(
                requests=max(200, reminders // max(numbers, 1) // 10),
                numbers_per_request=numbers,
                threads=workers * in_flight,
            )
            console.print(
                f"simulator alone, {r.numbers_per_request} number(s) per SendSms, {r.threads} client threads: "
                f"{r.requests:,} requests in {r.seconds:.2f}s = {r.requests_per_s:,.0f} requests/s, "
                f"{r.messages_per_s:,.0f} messages/s"
            )
        return
    with console.status(f"sending {reminders:,} reminders with {workers} relay workers"):
        r = b.run_relay(reminders=reminders, workers=workers, shared_params=shared, in_flight=in_flight)
    console.print(
        f"relay: {r.reminders:,} {'shared' if r.shared_params else 'personalised'} reminders, {r.workers} workers × "
        f"{r.in_flight} in flight: {r.submitted:,} submitted in {r.seconds:.1f}s = {r.per_s:,.0f} msg/s "
        f"(inside run_relay: {r.relay_seconds:.1f}s = {r.relay_per_s:,.0f} msg/s); "
        f"{r.requests:,} SendSms requests; gateway recorded {r.gateway_messages:,}, duplicates {r.duplicates}; "
        f"outbox {r.statuses}"
    )


def register(app: typer.Typer) -> None:
    app.command()(synth)
    app.add_typer(sim_app, name="sim")
    app.command()(demo)
    app.command()(bench)
    app.command("bench-filings")(bench_filings)
    app.command("bench-relay")(bench_relay)
    app.command("calibrate-gates")(calibrate_gates)
    app.command("bench-feedback")(bench_feedback)
    app.command("bench-night")(bench_night)
