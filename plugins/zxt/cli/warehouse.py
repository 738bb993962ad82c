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


@app.command("upgrade")
def upgrade() -> None:
    """Apply pending schema migrations (raw, ops, delivery, zxt functions) to the warehouse."""
    from zxt.warehouse import migrate, server

    engine = server.engine()
    before = migrate.current(engine)
    after = migrate.upgrade(engine)
    console.print(
        f"warehouse schema: {before or 'empty'} → {after}"
        if before != after
        else f"warehouse schema at {after}"
    )


@app.command("version")
def version() -> None:
    """Show the warehouse's schema revision and the newest one this code knows."""
    from zxt.warehouse import migrate, server

    console.print(
        f"warehouse at {migrate.current(server.engine()) or 'no revision'}; code head {migrate.head()}"
    )
