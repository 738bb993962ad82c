"""The warehouse build lease: one night at a time builds the shared staging and intermediate layers.

Revision ID: 0801
Revises: 040
Create Date: 2026-11-26
"""

from alembic import op

from zxt.warehouse.ddl import execute_script

revision = "0801"
down_revision = "040"
branch_labels = None
depends_on = None

DDL = """
-- At most one row: the run that holds the right to build stg/int/marts now (zxt.warehouse.build_lease).
create table ops.build_lease (
  lease text primary key default 'warehouse_build' check (lease = 'warehouse_build'),
  holder text not null,
  as_of_date date not null,
  acquired_at timestamptz not null default now()
);
"""


def upgrade() -> None:
    execute_script(op.get_bind(), DDL)


def downgrade() -> None:
    raise NotImplementedError("the warehouse only moves forward; restore a backup to go back")
