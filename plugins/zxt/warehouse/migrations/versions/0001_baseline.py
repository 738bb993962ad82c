"""Baseline: the schemas the walking skeleton created with `create … if not exists`.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from alembic import op

from zxt.warehouse import raw_tables, sql_functions
from zxt.warehouse.ddl import execute_script

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Landing contracts as they were at this revision (frozen: later columns come in later revisions).
RAW_TABLES = [
    (
        "tax__taxpayers",
        [
            ("uscc", "uscc"),
            ("taxpayer_name", "text"),
            ("registered_date", "date"),
            ("tax_info_confirmed_date", "date"),
            ("first_declaration_date", "date"),
            ("status", "enum"),
            ("entity_type", "enum"),
            ("industry_code", "text"),
            ("vat_taxpayer_type", "enum"),
            ("branch_code", "text"),
            ("officer_code", "text"),
            ("contact_name", "text"),
            ("contact_mobile", "mobile"),
            ("is_exporter", "bool"),
            ("is_key_source", "bool"),
        ],
    ),
    (
        "tax__obligations",
        [
            ("uscc", "uscc"),
            ("tax_type", "enum"),
            ("period_type", "enum"),
            ("valid_from", "date"),
            ("valid_to", "date"),
        ],
    ),
    (
        "tax__filings",
        [
            ("uscc", "uscc"),
            ("tax_type", "enum"),
            ("period_start", "date"),
            ("period_end", "date"),
            ("filed_date", "date"),
            ("sales_amount", "numeric"),
            ("tax_payable", "numeric"),
            ("tax_paid", "numeric"),
        ],
    ),
    (
        "credit__ratings",
        [
            ("uscc", "uscc"),
            ("evaluation_year", "int"),
            ("score", "numeric"),
            ("credit_level", "enum"),
            ("published_date", "date"),
        ],
    ),
    (
        "bank__authorisations",
        [
            ("authorisation_id", "text"),
            ("uscc", "uscc"),
            ("bank_code", "text"),
            ("authorised_date", "date"),
            ("expires_date", "date"),
            ("revoked_date", "date"),
            ("scope", "text"),
        ],
    ),
    (
        "contact__consents",
        [
            ("event_id", "text"),
            ("uscc", "uscc"),
            ("contact_mobile", "mobile"),
            ("channel", "enum"),
            ("event_type", "enum"),
            ("event_date", "date"),
        ],
    ),
]

DDL = """
create schema if not exists raw;
create schema if not exists ops;
create schema if not exists delivery;

create table ops.load_batches (
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

create table raw.rejects (
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
create index rejects_file on raw.rejects (source_file);

create table ops.gate_results (
  as_of_date date not null,
  gate text not null,
  success boolean not null,
  details jsonb not null,
  checked_at timestamptz not null default now()
);

create table ops.publish_log (
  as_of_date date primary key,
  published_at timestamptz not null default now(),
  dag_run_id text
);

create table delivery.suppression (
  channel text not null,
  recipient text not null,
  reason text not null,
  since timestamptz not null default now(),
  primary key (channel, recipient)
);

create table delivery.outbox (
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
create index outbox_due on delivery.outbox (status, valid_from);

create table delivery.send_attempts (
  outbox_id bigint not null references delivery.outbox,
  attempt integer not null,
  request_id text,
  code text,
  outcome text not null,
  attempted_at timestamptz not null default now(),
  primary key (outbox_id, attempt)
);

create table delivery.bank_ledger (
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


def upgrade() -> None:
    conn = op.get_bind()
    sql_functions.apply(conn)
    execute_script(conn, DDL)
    for table, columns in RAW_TABLES:
        execute_script(conn, raw_tables.create_sql(table, columns))


def downgrade() -> None:
    raise NotImplementedError("the warehouse only moves forward; restore a backup to go back")
