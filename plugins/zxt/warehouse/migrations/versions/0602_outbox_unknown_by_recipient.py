"""Receipts find a recipient's send whose answer was lost by an index of its own.

Revision ID: 0602
Revises: 0901
Create Date: 2026-11-26
"""

from alembic import op

from zxt.warehouse.ddl import execute_script

revision = "0602"
down_revision = "0901"
branch_labels = None
depends_on = None

# Every recorded receipt looks for "the recipient's only message still unknown, without a provider
# id" (zxt.delivery.receipts). Without this the lookup walked every submitted row: about 85 receipts/s
# at 40,000 open messages (docs/benchmarks.md). Only unknown rows are in it, so it stays tiny.
DDL = """
create index outbox_unknown_recipient on delivery.outbox (channel, recipient)
  where status = 'unknown' and provider_message_id is null;
"""


def upgrade() -> None:
    execute_script(op.get_bind(), DDL)


def downgrade() -> None:
    raise NotImplementedError("the warehouse only moves forward; restore a backup to go back")
