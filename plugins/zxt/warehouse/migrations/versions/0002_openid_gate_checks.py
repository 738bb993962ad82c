"""Contacts' WeChat openid; gate results one row per check.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from alembic import op

from zxt.warehouse import raw_tables
from zxt.warehouse.ddl import execute_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

DDL = """
-- One row per check of a gate run (run_id groups them); rows written before this revision have
-- no run_id and carry the whole run in details.
alter table ops.gate_results
  add column run_id uuid,
  add column mart text,
  add column check_name text,
  add column severity text check (severity in ('error', 'warning')),
  add column observed jsonb;
create index gate_results_date on ops.gate_results (as_of_date, gate);
"""


def upgrade() -> None:
    conn = op.get_bind()
    execute_script(conn, raw_tables.add_columns_sql("tax__taxpayers", [("wechat_openid", "text")]))
    execute_script(conn, DDL)


def downgrade() -> None:
    raise NotImplementedError("the warehouse only moves forward; restore a backup to go back")
