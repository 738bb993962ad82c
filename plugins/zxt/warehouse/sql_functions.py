"""SQL functions in schema ``zxt``, generated from the Python definitions they must agree with.

``create or replace`` makes them safe to re-apply: a migration that changes one calls ``apply``.
"""

from __future__ import annotations

import sqlalchemy as sa

from zxt.core.identifiers import (
    ALPHABET,
    INDIVIDUAL_BUSINESS_USCC_PREFIX,
    MOBILE_PATTERN,
    PERSON_NAMED_ENTITY_TYPES,
    WEIGHTS,
)
from zxt.warehouse.ddl import execute_script


def uscc_valid_sql() -> str:
    # One SQL expression, inlined by the planner (a plpgsql loop cost ~80 µs a call).
    terms = " + ".join(
        f"(strpos('{ALPHABET}', substr(code, {i}, 1)) - 1) * {w}" for i, w in enumerate(WEIGHTS, start=1)
    )
    return f"""
create or replace function zxt.uscc_valid(code text) returns boolean
language sql immutable parallel safe as $fn$
  select code ~ '^[{ALPHABET}]{{18}}$'
     and substr('{ALPHABET}', ((31 - ({terms}) % 31) % 31) + 1, 1) = substr(code, 18, 1)
$fn$;"""


def is_mobile_sql() -> str:
    return f"""
create or replace function zxt.is_mobile(m text) returns boolean
language sql immutable parallel safe as $fn$ select m ~ '{MOBILE_PATTERN}' $fn$;"""


MASK_SQL = """
create or replace function zxt.mask_mobile(m text) returns text
language sql immutable parallel safe as $fn$
  select case when zxt.is_mobile(m) then substr(m, 1, 3) || '****' || substr(m, 8, 4) else m end
$fn$;

create or replace function zxt.mask_name(n text) returns text
language sql immutable parallel safe as $fn$
  select case when n is null or n = '' then n else substr(n, 1, 1) || repeat('*', greatest(char_length(n) - 1, 1)) end
$fn$;"""


def mask_person_name_sql() -> str:
    # Mirrors identifiers.name_is_personal: the taxpayer name of an individual business or sole
    # proprietorship (or of unknown kind) is masked like a person's name; a company's is shown.
    types = ", ".join(f"'{t}'" for t in PERSON_NAMED_ENTITY_TYPES)
    return f"""
create or replace function zxt.mask_person_name(n text, entity_type text, uscc text) returns text
language sql immutable parallel safe as $fn$
  select case
    when (entity_type is null and uscc is null)
      or coalesce(entity_type in ({types}), false)
      or coalesce(uscc like '{INDIVIDUAL_BUSINESS_USCC_PREFIX}%', false)
    then zxt.mask_name(n) else n end
$fn$;"""


def is_date_sql(server_version_num: int) -> str:
    # Strictly YYYY-MM-DD ('today', 'infinity', '05/01/2025' are dates to PostgreSQL, not to a contract).
    # pg_input_is_valid (PostgreSQL 16+) checks without a subtransaction per row.
    if server_version_num >= 160000:
        body = (
            "language sql immutable parallel safe as $fn$ "
            "select t ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' and pg_input_is_valid(t, 'date') $fn$"
        )
    else:
        body = (
            "language plpgsql immutable as $fn$ begin if t !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' then "
            "return false; end if; perform t::date; return true; "
            "exception when others then return false; end $fn$"
        )
    return f"create or replace function zxt.is_date(t text) returns boolean {body};"


def apply(conn: sa.Connection) -> None:
    """(Re)create every function in schema zxt on this connection."""
    version = int(conn.execute(sa.text("show server_version_num")).scalar())
    execute_script(
        conn,
        "\n".join(
            [
                "create schema if not exists zxt;",
                uscc_valid_sql(),
                is_mobile_sql(),
                MASK_SQL,
                mask_person_name_sql(),
                is_date_sql(version),
            ]
        ),
    )
