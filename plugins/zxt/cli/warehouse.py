"""``zxt warehouse``: the embedded PostgreSQL (or the external one named by ZXT_WAREHOUSE_URL)."""

from __future__ import annotations

import typer

from zxt.cli.common import console

app = typer.Typer(help="The warehouse (embedded PostgreSQL unless ZXT_WAREHOUSE_URL is set).")


@app.command("status")
def status() -> None:
    from zxt.warehouse import server

    s = server.status()
    console.print(
        f"{'embedded' if s.embedded else 'external'} warehouse {s.url}: "
        f"{'[green]running[/]' if s.running else '[red]stopped[/]'}"
    )
    if s.data_dir:
        console.print(f"data directory: {s.data_dir}")


@app.command("start")
def start() -> None:
    from zxt.warehouse import server

    server.start()
    status()


@app.command("stop")
def stop() -> None:
    from zxt.warehouse import server

    server.stop()
    status()
