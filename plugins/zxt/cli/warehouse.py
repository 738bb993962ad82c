"""``zxt warehouse``: the embedded PostgreSQL (or the external one named by ZXT_WAREHOUSE_URL)."""

from __future__ import annotations

from typing import Annotated

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


@app.command("logins")
def logins() -> None:
    """Create (or re-password) the login of each task role that has ZXT_WAREHOUSE_<ROLE>_URL."""
    from zxt.core.settings import TASK_ROLES, get_settings
    from zxt.warehouse import migrate, roles, server

    settings = get_settings()
    wanted = {}
    for role in TASK_ROLES[1:]:
        pg = settings.warehouse.pg_as(role)
        if pg.user != settings.warehouse.pg.user:
            wanted[role] = (pg.user, pg.password)
    engine = server.engine()
    migrate.ensure_current(engine)
    with engine.begin() as conn:
        done = roles.ensure_logins(conn, wanted)
    for line in done or ["no ZXT_WAREHOUSE_<ROLE>_URL set: tasks use the admin login with SET ROLE"]:
        console.print(line)


@app.command("officers")
def officers() -> None:
    """Officer logins (members of zxt_officer) and the branches each may see."""
    from zxt.warehouse import migrate, roles, server

    engine = server.engine()
    migrate.ensure_current(engine)
    with engine.connect() as conn:
        rows = roles.officers(conn)
    for login, branches in rows:
        console.print(f"{login}: {', '.join(branches) if branches else '(no branch: sees no rows)'}")
    if not rows:
        console.print("no officer logins (create role <name> login password '…' in role zxt_officer)")


@app.command("officer-grant")
def officer_grant(login: str, branches: list[str]) -> None:
    """Let an officer login see the rows of these branches (branch_code) in the *_current views."""
    from zxt.warehouse import migrate, roles, server

    engine = server.engine()
    migrate.ensure_current(engine)
    try:
        with engine.begin() as conn:
            roles.grant_branches(conn, login, branches)
    except ValueError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    officers()


@app.command("officer-revoke")
def officer_revoke(
    login: str,
    branches: Annotated[list[str] | None, typer.Argument(help="Branches to withdraw (none: all).")] = None,
) -> None:
    """Withdraw branches from an officer login (all of them when none are named)."""
    from zxt.warehouse import migrate, roles, server

    engine = server.engine()
    migrate.ensure_current(engine)
    with engine.begin() as conn:
        n = roles.revoke_branches(conn, login, branches or None)
    console.print(f"withdrew {n} branch(es) from {login}")
