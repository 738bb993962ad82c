"""Warehouse tables owned by Python code (raw, rejects, ops logs, delivery ledgers).

dbt owns everything from staging on. All DDL here is idempotent and runs before each task that
needs it, so a fresh warehouse (or ``ZXT_WAREHOUSE_URL``) needs no manual step.
"""

from __future__ import annotations

import sqlalchemy as sa

from zxt.ingest.contracts import Dataset, load_contracts

PG_TYPES = {
    "text": "text",
    "date": "date",
    "int": "integer",
    "numeric": "numeric(18,2)",
    "bool": "boolean",
    "uscc": "varchar(18)",
    "mobile": "varchar(11)",
    "enum": "text",
}

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"

BASE_DDL = f"""
create schema if not exists raw;
create schema if not exists ops;
create schema if not exists delivery;
create schema if not exists zxt;

-- One SQL expression (inlined by the planner): a plpgsql loop cost ~80 µs a call.
create or replace function zxt.uscc_valid(code text) returns boolean
language sql immutable parallel safe as $fn$
  select code ~ '^[0-9A-HJ-NP-RTUWXY]{{18}}$'
     and substr('{ALPHABET}', ((31 - ((strpos('{ALPHABET}', substr(code, 1, 1)) - 1) * 1 + (strpos('{ALPHABET}', substr(code, 2, 1)) - 1) * 3 + (strpos('{ALPHABET}', substr(code, 3, 1)) - 1) * 9 + (strpos('{ALPHABET}', substr(code, 4, 1)) - 1) * 27 + (strpos('{ALPHABET}', substr(code, 5, 1)) - 1) * 19 + (strpos('{ALPHABET}', substr(code, 6, 1)) - 1) * 26 + (strpos('{ALPHABET}', substr(code, 7, 1)) - 1) * 16 + (strpos('{ALPHABET}', substr(code, 8, 1)) - 1) * 17 + (strpos('{ALPHABET}', substr(code, 9, 1)) - 1) * 20 + (strpos('{ALPHABET}', substr(code, 10, 1)) - 1) * 29 + (strpos('{ALPHABET}', substr(code, 11, 1)) - 1) * 25 + (strpos('{ALPHABET}', substr(code, 12, 1)) - 1) * 13 + (strpos('{ALPHABET}', substr(code, 13, 1)) - 1) * 8 + (strpos('{ALPHABET}', substr(code, 14, 1)) - 1) * 24 + (strpos('{ALPHABET}', substr(code, 15, 1)) - 1) * 10 + (strpos('{ALPHABET}', substr(code, 16, 1)) - 1) * 30 + (strpos('{ALPHABET}', substr(code, 17, 1)) - 1) * 28) % 31) % 31) + 1, 1) = substr(code, 18, 1)
$fn$;

create or replace function zxt.mask_mobile(m text) returns text
language sql immutable parallel safe as $fn$
  select case when m ~ '^[0-9]{{11}}$' then substr(m, 1, 3) || '****' || substr(m, 8, 4) else m end
$fn$;

create or replace function zxt.mask_name(n text) returns text
language sql immutable parallel safe as $fn$
  select case when n is null or n = '' then n else substr(n, 1, 1) || repeat('*', greatest(char_length(n) - 1, 1)) end
$fn$;

create table if not exists ops.load_batches (
  batch_id uuid primary key,
  dataset text not null,
  drop_date date not null,
  source_file text not null,
  sha256 char(64) not null,
  bytes bigint not null,
  encoding text not null,
  rows_loaded integer not null,
  rows_rejected integer not null,
  archived_path text not null,
  loaded_at timestamptz not null default now(),
  unique (source_file)
);

create table if not exists raw.rejects (
  batch_id uuid not null,
  dataset text not null,
  drop_date date not null,
  source_file text not null,
  row_number integer not null,
  rule text not null,
  reason text not null,
  record text,
  rejected_at timestamptz not null default now()
);
create index if not exists rejects_file on raw.rejects (source_file);

create table if not exists ops.gate_results (
  as_of_date date not null,
  gate text not null,
  success boolean not null,
  details jsonb not null,
  checked_at timestamptz not null default now()
);

create table if not exists ops.publish_log (
  as_of_date date primary key,
  published_at timestamptz not null default now(),
  dag_run_id text
);

create table if not exists delivery.suppression (
  channel text not null,
  recipient text not null,
  reason text not null,
  since timestamptz not null default now(),
  primary key (channel, recipient)
);

create table if not exists delivery.outbox (
  outbox_id bigserial primary key,
  idempotency_key char(64) not null unique,
  as_of_date date not null,
  uscc varchar(18) not null,
  reminder_type text not null,
  subject text not null,
  channel text not null,
  recipient text not null,
  template_code text not null,
  provider_template_id text not null,
  template_params jsonb not null,
  valid_from timestamptz not null,
  valid_until timestamptz not null,
  status text not null default 'queued'
    check (status in ('queued','sending','submitted','delivered','failed','expired','unknown','suppressed','dead')),
  attempts integer not null default 0,
  next_attempt_at timestamptz,
  provider_message_id text,
  last_error_code text,
  last_error_message text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  submitted_at timestamptz
);
create index if not exists outbox_due on delivery.outbox (status, valid_from);

create table if not exists delivery.send_attempts (
  outbox_id bigint not null references delivery.outbox,
  attempt integer not null,
  request_id text,
  code text,
  outcome text not null,
  attempted_at timestamptz not null default now(),
  primary key (outbox_id, attempt)
);

create table if not exists delivery.bank_ledger (
  bank_code text not null,
  product_code text not null,
  business_date date not null,
  seq integer not null,
  data_file text not null,
  manifest_file text not null,
  row_count integer not null,
  plaintext_sha256 char(64) not null,
  ciphertext_sha256 char(64),
  status text not null check (status in ('delivered','acknowledged','rejected')),
  delivered_at timestamptz not null default now(),
  primary key (bank_code, product_code, business_date, seq)
);
"""


def raw_table_ddl(ds: Dataset) -> str:
    cols = ",\n  ".join(f"{c.name} {PG_TYPES[c.type]}" for c in ds.columns)
    return f"""
create table if not exists raw.{ds.raw_table} (
  {cols},
  _batch_id uuid not null,
  _source_file text not null,
  _row_number integer not null,
  _drop_date date not null,
  _loaded_at timestamptz not null default now()
);
create index if not exists {ds.raw_table}__drop on raw.{ds.raw_table} (_drop_date);
create index if not exists {ds.raw_table}__file on raw.{ds.raw_table} (_source_file);
"""


def is_date_ddl(server_version_num: int) -> str:
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


def ensure(engine: sa.Engine) -> None:
    """Create every Python-owned schema object (idempotent, serialised by an advisory lock)."""
    with engine.begin() as conn:
        conn.execute(sa.text("select pg_advisory_xact_lock(20241381)"))
        raw = conn.connection.driver_connection
        with raw.cursor() as cur:
            cur.execute(BASE_DDL)
            version = conn.execute(sa.text("show server_version_num")).scalar()
            cur.execute(is_date_ddl(int(version)))
            for ds in load_contracts().values():
                cur.execute(raw_table_ddl(ds))
