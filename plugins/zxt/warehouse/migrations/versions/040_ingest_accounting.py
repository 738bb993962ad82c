"""Ingest accounting and quarantine, refused landing paths, affected dates, schema drift kept.

Revision ID: 040
Revises: 031
Create Date: 2026-11-26
"""

from alembic import op

from zxt.warehouse.ddl import execute_script

revision = "040"
down_revision = "031"
branch_labels = None
depends_on = None

DDL = """
-- Every landing file, loaded or quarantined (refused whole: truncated, undecodable, empty, missing
-- or retyped required column …): rows read = rows loaded + rows rejected, always.
alter table ops.load_batches
  add column status text not null default 'loaded' check (status in ('loaded', 'quarantined')),
  add column rows_read integer,
  add column reason text,
  add column drift jsonb,
  add column load_path text;
update ops.load_batches set rows_read = rows_loaded + rows_rejected;
alter table ops.load_batches
  alter column rows_read set not null,
  add constraint load_batches_accounting check (rows_read = rows_loaded + rows_rejected);
comment on column ops.load_batches.encoding is 'how the file was decoded and why (declared or detected)';
comment on column ops.load_batches.reason is 'why a quarantined file was refused whole';
comment on column ops.load_batches.drift is 'schema drift: columns added by the sender (kept in _extra), optional columns absent';

-- Which column and raw value a rejected row failed on (the first failure; reason lists all).
alter table raw.rejects add column column_name text, add column raw_value text;

-- Landing paths refused without being read: symlinks, paths outside the landing zone, folders
-- whose name is not a YYYY-MM-DD business date. Replaced by every scan of the landing zone.
create table ops.landing_refusals (
  path text primary key,
  dataset text,
  drop_date date,
  reason text not null,
  seen_at timestamptz not null default now()
);

-- A drop (re)loaded for a business date earlier than data already loaded — a late drop or a
-- corrected file — changes the as_of dates from affected_from to affected_to (null: up to the
-- latest); a backfill of those dates rebuilds them. `zxt ingest affected` lists them.
create table ops.ingest_affected (
  dataset text not null,
  drop_date date not null,
  source_file text not null,
  batch_id uuid not null,
  kind text not null check (kind in ('late', 'correction')),
  affected_from date not null,
  affected_to date,
  recorded_at timestamptz not null default now()
);
create index ingest_affected_from on ops.ingest_affected (affected_from);

-- Columns a sender added that the contract does not know are kept, not dropped.
do $$
declare t record;
begin
  for t in select c.table_name from information_schema.columns as c
           where c.table_schema = 'raw' and c.column_name = '_batch_id'
  loop
    execute format('alter table raw.%I add column if not exists _extra jsonb', t.table_name);
  end loop;
end $$;
"""


def upgrade() -> None:
    execute_script(op.get_bind(), DDL)


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup")
