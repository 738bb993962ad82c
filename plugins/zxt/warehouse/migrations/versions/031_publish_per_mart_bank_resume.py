"""Publishing per mart, resumable bank deliveries, masking of person names.

Revision ID: 031
Revises: 0002
Create Date: 2026-11-26
"""

from alembic import op

from zxt.warehouse import sql_functions
from zxt.warehouse.ddl import execute_script

revision = "031"
down_revision = "0002"
branch_labels = None
depends_on = None

DDL = """
-- One row per mart and published date: the officers' <mart>_current views follow the latest row of
-- their mart. A date whose gates all passed publishes every gated mart at once; a mart blocked by
-- the source gate (a late or refused input) keeps its previous date. ops.publish_log keeps one row
-- per date published in full.
create table ops.publish_marts (
  mart text not null,
  as_of_date date not null,
  published_at timestamptz not null default now(),
  dag_run_id text,
  gate_run_id uuid,
  primary key (mart, as_of_date)
);
comment on table ops.publish_marts is '已发布的数据日期 (每个数据集市): *_current views show the latest row of their mart';

-- Dates published before this revision published the two marts that existed then.
insert into ops.publish_marts (mart, as_of_date, published_at, dag_run_id)
select m.mart, p.as_of_date, p.published_at, p.dag_run_id
from ops.publish_log as p
cross join (values ('credit_warning'), ('bank_referral')) as m (mart);

create index gate_results_run on ops.gate_results (run_id);
create index gate_results_mart on ops.gate_results (as_of_date, gate, mart, checked_at);

-- A delivery is written ahead ('prepared', with the exact bytes to send) before anything is
-- uploaded, so a rerun after a crash at any step finishes the same files instead of guessing;
-- 'conflict' = the bank's inbox holds different files under our names (a person must look).
alter table delivery.bank_ledger drop constraint bank_ledger_status_check;
alter table delivery.bank_ledger
  add constraint bank_ledger_status_check
    check (status in ('prepared', 'delivered', 'acknowledged', 'rejected', 'conflict')),
  add column replaces integer,
  add column marker_file text,
  add column payload bytea,
  add column manifest bytea,
  add column note text;
update delivery.bank_ledger set marker_file = regexp_replace(manifest_file, '\\.manifest\\.json$', '.ok');
alter table delivery.bank_ledger alter column marker_file set not null;
"""


def upgrade() -> None:
    conn = op.get_bind()
    sql_functions.apply(conn)  # adds zxt.mask_person_name
    execute_script(conn, DDL)


def downgrade() -> None:
    raise NotImplementedError("the warehouse only moves forward; restore a backup to go back")
