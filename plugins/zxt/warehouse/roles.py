"""Warehouse roles as code: who may read and write what (applied by migration 0901 and every upgrade).

Group roles (NOLOGIN; logins are members, or a session sets the role at connection start):

==================  ========================================================================
zxt_loader          ingest and the source gate: writes ``raw`` and ``ops``; reads nothing derived
zxt_transformer     dbt, mart gates, publish: reads ``raw``, owns ``stg``/``int``/``rules``/``marts``,
                    writes gate results and publications; of ``delivery`` reads only the
                    suppression list (the reminder decision leaves opted-out recipients out)
zxt_delivery        reminders, relay, bank drops: the only pipeline role that reads unmasked
                    contacts in the marts and ``delivery`` and writes the outbox and ledgers;
                    reads ``raw`` (consents, authorisations), ``int`` (current contacts for a
                    fallback channel) and ``rules``, writes no raw or derived data
zxt_officer         tax officers (people, one login each): the published ``marts.*_current`` views
                    only, and only rows of the branches ``ops.officer_branches`` maps them to
zxt_officer_views   owns the officers' views (no login); the marts' row-level security applies to
                    it, so a view shows an officer only their branches' rows
zxt_admin           people who administer the pipeline: everything in its schemas
==================  ========================================================================

Default privileges make tables created later get the same grants: by dbt (as zxt_transformer) and by
migrations (as the admin login running them). ``apply`` also re-grants on what exists, so it is safe
to run again and converges a warehouse built before roles existed.
"""

from __future__ import annotations

import sqlalchemy as sa

from zxt.core.settings import ROLE_PREFIX
from zxt.warehouse.ddl import execute_script

LOADER = ROLE_PREFIX + "loader"
TRANSFORMER = ROLE_PREFIX + "transformer"
DELIVERY = ROLE_PREFIX + "delivery"
OFFICER = ROLE_PREFIX + "officer"
OFFICER_VIEWS = ROLE_PREFIX + "officer_views"
ADMIN = ROLE_PREFIX + "admin"
GROUPS = (ADMIN, LOADER, TRANSFORMER, DELIVERY, OFFICER, OFFICER_VIEWS)
PIPELINE = (LOADER, TRANSFORMER, DELIVERY)

DERIVED_SCHEMAS = ("stg", "int", "rules", "marts")  # dbt's, owned by zxt_transformer
# delivery.* is the delivery role's, with one exception: dbt decides the reminders
# (marts.reminder_candidates) and must leave out opted-out recipients. The outbox, send attempts,
# receipts and ledgers stay closed to the transformer.
DELIVERY_READ_BY_TRANSFORMER = ("suppression",)
WRITE = "select, insert, update, delete"

# ops is the pipeline's bookkeeping: every pipeline role reads it and, for tables not listed here,
# writes it (new tables of later migrations work without a change here). Listed tables are narrowed.
OPS_TABLES: dict[str, dict[str, str]] = {
    "load_batches": {LOADER: WRITE, TRANSFORMER: "select", DELIVERY: "select"},
    "gate_results": {LOADER: "select, insert", TRANSFORMER: "select, insert", DELIVERY: "select"},
    # The officers' views show the latest published date of their mart.
    "publish_marts": {LOADER: "select", TRANSFORMER: WRITE, DELIVERY: "select", OFFICER_VIEWS: "select"},
    "publish_log": {LOADER: "select", TRANSFORMER: WRITE, DELIVERY: "select"},
    "alembic_version": {LOADER: "select", TRANSFORMER: "select", DELIVERY: "select"},
    "officer_branches": {},  # who sees which branch: administrators only
}

OFFICER_BRANCHES_DDL = """
-- Which branches (主管税务所, marts' branch_code) each officer login may see; maintained by
-- administrators (`zxt officers grant`). An officer login without a row sees no rows at all.
create table if not exists ops.officer_branches (
  officer_login text not null,
  branch_code text not null,
  granted_at timestamptz not null default now(),
  primary key (officer_login, branch_code)
);
comment on table ops.officer_branches is '税务人员可查看的主管税务所 (officer login -> branch_code)';

-- The branches the session's officer may see; null when the session is not an officer's (the
-- pipeline, administrators): no row restriction. session_user, not current_user: a view runs its
-- policies on behalf of the person who queries it, and a security definer function sees itself as
-- current_user.
create or replace function zxt.officer_branches() returns text[]
language sql stable security definer set search_path = pg_catalog, pg_temp as $fn$
  select case
    when (select r.rolsuper from pg_catalog.pg_roles r where r.rolname = session_user) then null
    when not pg_catalog.pg_has_role(session_user, 'zxt_officer', 'MEMBER') then null
    else coalesce(
      (select array_agg(b.branch_code order by b.branch_code) from ops.officer_branches b
       where b.officer_login = session_user),
      '{}'::text[])
  end
$fn$;
"""


def _list(roles: tuple[str, ...] | list[str]) -> str:
    return ", ".join(roles)


def _create_roles_sql() -> str:
    roles = ", ".join(f"'{r}'" for r in GROUPS)
    tasks = ", ".join(f"'{r}'" for r in (ADMIN, *PIPELINE, OFFICER_VIEWS))
    return f"""
do $roles$
declare
  r text;
  me_super boolean := (select rolsuper from pg_roles where rolname = current_user);
begin
  foreach r in array array[{roles}] loop
    if not exists (select from pg_roles where rolname = r) then
      execute format('create role %I nologin', r);
    end if;
  end loop;
  -- A login that is not a superuser must be a member to set default privileges for these roles,
  -- hand objects to them and (without per-role logins) act as them.
  if not me_super then
    foreach r in array array[{tasks}] loop
      begin
        execute format('grant %I to %I', r, current_user);
      exception when insufficient_privilege then
        raise exception 'the admin login % must be a member of role % (as a superuser: grant % to %)',
          current_user, r, r, current_user;
      end;
    end loop;
  end if;
end $roles$;
-- publish (as the transformer) creates the officers' views and hands them to their owner role.
grant {OFFICER_VIEWS} to {TRANSFORMER};
comment on role {LOADER} is 'zxt: ingest and source gate (writes raw, ops)';
comment on role {TRANSFORMER} is 'zxt: dbt, mart gates, publish (reads raw, owns stg/int/rules/marts)';
comment on role {DELIVERY} is 'zxt: reminders, relay, bank drops (reads unmasked contacts, writes delivery)';
comment on role {OFFICER} is 'zxt: tax officers (published *_current views, own branches only)';
comment on role {OFFICER_VIEWS} is 'zxt: owner of the officers views (row-level security applies to it)';
comment on role {ADMIN} is 'zxt: administrators (everything in the zxt schemas)';
"""


def _ownership_sql() -> str:
    schemas = ", ".join(f"'{s}'" for s in DERIVED_SCHEMAS)
    return f"""
do $own$
declare
  s text;
  o record;
begin
  foreach s in array array[{schemas}] loop
    if not exists (select from pg_namespace where nspname = s) then
      execute format('create schema %I authorization {TRANSFORMER}', s);
    else
      execute format('alter schema %I owner to {TRANSFORMER}', s);
    end if;
  end loop;
  -- Relations built before roles existed (by the admin login) move to the role that rebuilds them;
  -- the officers' views in marts to the role whose row-level security they must go through.
  for o in
    select c.oid::regclass as rel, c.relkind, n.nspname
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = any(array[{schemas}]) and c.relkind in ('r', 'p', 'v', 'm')
  loop
    execute format(
      'alter %s %s owner to %I',
      case o.relkind when 'v' then 'view' when 'm' then 'materialized view' else 'table' end,
      o.rel,
      case when o.relkind = 'v' and o.nspname = 'marts' then '{OFFICER_VIEWS}' else '{TRANSFORMER}' end);
  end loop;
end $own$;
"""


def _grants_sql(database: str) -> str:
    every = _list(GROUPS)
    pipeline = _list(PIPELINE)
    out = [
        f'grant connect, temporary on database "{database}" to {every};',
        # dbt creates a schema when a model names a new one.
        f'grant create on database "{database}" to {TRANSFORMER};',
        f"grant usage on schema zxt to {every};",
        f"grant execute on all functions in schema zxt to {every};",
        # raw: written by the loader only.
        f"grant usage on schema raw to {LOADER}, {TRANSFORMER}, {DELIVERY}, {ADMIN};",
        f"grant {WRITE}, truncate on all tables in schema raw to {LOADER};",
        f"grant select on all tables in schema raw to {TRANSFORMER}, {DELIVERY};",
        f"grant usage, select on all sequences in schema raw to {LOADER};",
        f"alter default privileges in schema raw grant {WRITE}, truncate on tables to {LOADER};",
        f"alter default privileges in schema raw grant select on tables to {TRANSFORMER}, {DELIVERY};",
        f"alter default privileges in schema raw grant usage, select on sequences to {LOADER};",
        # ops: the pipeline's bookkeeping (narrowed per table below).
        f"grant usage on schema ops to {pipeline}, {ADMIN}, {OFFICER_VIEWS};",
        f"grant {WRITE} on all tables in schema ops to {pipeline};",
        f"grant usage, select on all sequences in schema ops to {pipeline};",
        f"alter default privileges in schema ops grant {WRITE} on tables to {pipeline};",
        f"alter default privileges in schema ops grant usage, select on sequences to {pipeline};",
        # delivery: contacts, outbox, ledgers — the delivery role only.
        f"revoke all on schema delivery from {LOADER}, {OFFICER}, {OFFICER_VIEWS};",
        f"revoke all on all tables in schema delivery from {LOADER}, {TRANSFORMER}, {OFFICER}, {OFFICER_VIEWS};",
        f"grant usage on schema delivery to {DELIVERY}, {ADMIN}, {TRANSFORMER};",
        f"grant {WRITE} on all tables in schema delivery to {DELIVERY};",
        f"grant usage, select on all sequences in schema delivery to {DELIVERY};",
        f"alter default privileges in schema delivery grant {WRITE} on tables to {DELIVERY};",
        f"alter default privileges in schema delivery grant usage, select on sequences to {DELIVERY};",
        # derived schemas: the transformer owns them; delivery reads the marts and rules.
        f"grant usage on schema stg, int, rules, marts to {ADMIN};",
        # int: the current contacts (int_contacts__reachable) a fallback channel reaches.
        f"grant usage on schema rules, marts, int to {DELIVERY};",
        f"grant usage, create on schema marts to {OFFICER_VIEWS};",
        f"grant usage on schema marts to {OFFICER};",
        f"grant select on all tables in schema rules, marts, int to {DELIVERY};",
        f"grant select on all tables in schema marts to {OFFICER_VIEWS};",
    ]
    for owner in (TRANSFORMER, "current_user"):
        # As dbt builds (transformer) and as anything the admin login creates there later.
        who = f"for role {owner} " if owner != "current_user" else ""
        out += [
            f"alter default privileges {who}in schema rules grant select on tables to {DELIVERY}, {ADMIN};",
            f"alter default privileges {who}in schema marts grant select on tables to {DELIVERY}, {OFFICER_VIEWS}, {ADMIN};",
            f"alter default privileges {who}in schema stg grant select on tables to {ADMIN};",
            f"alter default privileges {who}in schema int grant select on tables to {DELIVERY}, {ADMIN};",
        ]
    # Administrators (people) may read and correct everything.
    for schema in ("raw", "ops", "delivery"):
        out += [
            f"grant {WRITE}, truncate on all tables in schema {schema} to {ADMIN};",
            f"grant usage, select on all sequences in schema {schema} to {ADMIN};",
            f"alter default privileges in schema {schema} grant {WRITE}, truncate on tables to {ADMIN};",
        ]
    out.append(f"grant select on all tables in schema stg, int, rules, marts to {ADMIN};")
    # Officers get the views one by one at publish, never a mart table (views keep their grants).
    out.append(
        "do $m$ declare t regclass; begin for t in select c.oid::regclass from pg_class c "
        "join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'marts' and c.relkind in ('r', 'p', 'm') "
        f"loop execute format('revoke all on %s from {OFFICER}', t); end loop; end $m$;"
    )
    for table in DELIVERY_READ_BY_TRANSFORMER:
        out.append(
            f"do $t$ begin if to_regclass('delivery.{table}') is not null then "
            f"execute 'grant select on delivery.{table} to {TRANSFORMER}'; end if; end $t$;"
        )
    for table, grants in OPS_TABLES.items():
        out.append(
            f"do $t$ begin if to_regclass('ops.{table}') is not null then "
            f"execute 'revoke all on ops.{table} from {pipeline}'; "
            + "".join(f"execute 'grant {privs} on ops.{table} to {role}'; " for role, privs in grants.items())
            + "end if; end $t$;"
        )
    return "\n".join(out)


def apply(conn: sa.Connection) -> None:
    """Create the roles (once per server) and (re)apply every grant in this database. Idempotent."""
    database = conn.execute(sa.text("select current_database()")).scalar()
    execute_script(conn, _create_roles_sql())
    execute_script(conn, OFFICER_BRANCHES_DDL)
    execute_script(conn, _ownership_sql())
    execute_script(conn, _grants_sql(str(database)))


def secure_mart(conn: sa.Connection, relation: str, has_branch: bool) -> None:
    """Row-level security on a mart read through an officers' view: rows of the officer's branches
    only (all rows for sessions that are not an officer's). Idempotent; run by publish as the mart's
    owner. A mart without ``branch_code`` shows officers nothing."""
    schema, _, table = relation.partition(".")
    rule = (
        # Sub-selects: evaluated once per query, not per row.
        "(select zxt.officer_branches()) is null "
        "or branch_code = any (coalesce((select zxt.officer_branches()), '{}'::text[]))"
        if has_branch
        else "(select zxt.officer_branches()) is null"
    )
    existing = set(
        conn.execute(
            sa.text("select policyname from pg_policies where schemaname = :s and tablename = :t"),
            {"s": schema, "t": table},
        ).scalars()
    )
    enabled = conn.execute(
        sa.text("select relrowsecurity from pg_class where oid = cast(:r as regclass)"), {"r": relation}
    ).scalar()
    statements = []
    if not enabled:
        statements.append(f"alter table {relation} enable row level security")
    if "officer_branch" not in existing:
        statements.append(
            f"create policy officer_branch on {relation} for select to {OFFICER_VIEWS} using ({rule})"
        )
    if "pipeline" not in existing:
        # The owner (transformer) bypasses row security; these roles read every row.
        statements.append(
            f"create policy pipeline on {relation} to {DELIVERY}, {ADMIN} using (true) with check (true)"
        )
    for statement in statements:
        execute_script(conn, statement)


def grant_view(conn: sa.Connection, view: str) -> None:
    """Hand an officers' view to its owner role and let officers (and administrators) read it."""
    owner = conn.execute(
        sa.text("select pg_get_userbyid(relowner) from pg_class where oid = cast(:v as regclass)"),
        {"v": view},
    ).scalar()
    if owner != OFFICER_VIEWS:
        execute_script(conn, f"alter view {view} owner to {OFFICER_VIEWS}")
    execute_script(conn, f"grant select on {view} to {OFFICER}, {ADMIN}")


def ensure_logins(conn: sa.Connection, logins: dict[str, tuple[str, str]]) -> list[str]:
    """Create (or re-password) one login per task role, member of its group: ``{role: (user,
    password)}`` from ``ZXT_WAREHOUSE_<ROLE>_URL``. Run as the admin login; returns what changed."""
    from psycopg import sql

    done = []
    cur_conn = conn.connection.driver_connection
    for role, (user, password) in sorted(logins.items()):
        group = ROLE_PREFIX + role
        exists = conn.execute(sa.text("select 1 from pg_roles where rolname = :u"), {"u": user}).scalar()
        verb = "alter" if exists else "create"
        with cur_conn.cursor() as cur:
            cur.execute(
                sql.SQL("{} role {} login password {}").format(
                    sql.SQL(verb), sql.Identifier(user), sql.Literal(password)
                )
            )
            cur.execute(sql.SQL("grant {} to {}").format(sql.Identifier(group), sql.Identifier(user)))
        done.append(f"{user} ({'password updated' if exists else 'created'}) in {group}")
    return done


def grant_branches(conn: sa.Connection, login: str, branches: list[str]) -> None:
    """Let an officer login see these branches' rows (the login must exist and be an officer)."""
    is_officer = conn.execute(
        sa.text("select pg_has_role(:u, :g, 'MEMBER') from pg_roles where rolname = :u"),
        {"u": login, "g": OFFICER},
    ).scalar()
    if not is_officer:
        raise ValueError(
            f"{login!r} is not a login in role {OFFICER}: create it first, e.g. "
            f"create role {login} login password '…' in role {OFFICER}"
        )
    for branch in branches:
        conn.execute(
            sa.text(
                "insert into ops.officer_branches (officer_login, branch_code) values (:u, :b) "
                "on conflict do nothing"
            ),
            {"u": login, "b": branch},
        )


def revoke_branches(conn: sa.Connection, login: str, branches: list[str] | None) -> int:
    """Withdraw branches from an officer (None: all of them)."""
    if branches is None:
        return conn.execute(
            sa.text("delete from ops.officer_branches where officer_login = :u"), {"u": login}
        ).rowcount
    return conn.execute(
        sa.text("delete from ops.officer_branches where officer_login = :u and branch_code = any(:b)"),
        {"u": login, "b": branches},
    ).rowcount


def officers(conn: sa.Connection) -> list[tuple[str, list[str]]]:
    """Every officer login with the branches it may see (an empty list: it sees nothing)."""
    return [
        (login, list(branches or []))
        for login, branches in conn.execute(
            sa.text(
                f"""select r.rolname, array_remove(array_agg(b.branch_code order by b.branch_code), null)
                    from pg_roles r
                    join pg_auth_members m on m.member = r.oid and m.roleid = '{OFFICER}'::regrole
                    left join ops.officer_branches b on b.officer_login = r.rolname
                    group by r.rolname order by r.rolname"""
            )
        ).all()
    ]
