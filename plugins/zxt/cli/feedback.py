"""``zxt feedback``: receipts, replies, follow-ups and delivery rates (the ``zxt_feedback`` DAG's code)."""

from __future__ import annotations

import signal
import threading
from dataclasses import asdict
from datetime import datetime
from typing import Annotated

import typer

from zxt.cli.common import console, print_json
from zxt.core.settings import BUREAU_TZ

app = typer.Typer(
    help="Delivery receipts and replies: pull, settle, follow-ups, rates; the callback receiver."
)


@app.command("run")
def run(
    at: Annotated[str | None, typer.Option(help="Act as of this time (ISO, default now).")] = None,
    pull: Annotated[bool, typer.Option(help="Pull receipts and replies from the SMS provider.")] = True,
) -> None:
    """Pull receipts and replies, settle submitted/unknown messages, mark follow-ups, report rates."""
    from zxt.delivery import feedback

    now = datetime.fromisoformat(at).astimezone(BUREAU_TZ) if at else None
    stats = feedback.run_feedback(now=now, pull_provider=pull)
    print_json(asdict(stats))
    if stats.pull_errors:
        raise typer.Exit(1)


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (default ZXT_FEEDBACK_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default ZXT_FEEDBACK_PORT).")] = None,
) -> None:
    """Run the callback receiver (SMS status and reply pushes, WeChat events) in the foreground."""
    from zxt.delivery import callbacks

    server, thread = callbacks.serve(host=host, port=port)
    console.print(f"callback receiver on {server.url}: /sms/status, /sms/reply, /wechat")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1.0):  # wake regularly so the signal handler runs
        pass
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@app.command("followups")
def followups(
    all_: Annotated[bool, typer.Option("--all", help="Include follow-ups already done.")] = False,
) -> None:
    """Reminders no channel confirmed within their validity window: officers follow them up by phone."""
    import sqlalchemy as sa

    from zxt.warehouse import server as warehouse

    with warehouse.engine().connect() as conn:
        rows = conn.execute(
            sa.text(
                "select uscc, reminder_type, subject, as_of_date, last_statuses, marked_at, done_at "
                "from delivery.followups where :all or done_at is null order by marked_at, uscc"
            ),
            {"all": all_},
        ).mappings()
        print_json([dict(r) for r in rows])


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="feedback")
