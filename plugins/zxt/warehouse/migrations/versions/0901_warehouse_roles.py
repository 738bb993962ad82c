"""Warehouse roles (loader, transformer, delivery, officer, admin), their grants and default
privileges, officers' branches and the marts' row-level security helper.

Revision ID: 0901
Revises: 0601
Create Date: 2026-11-26
"""

from alembic import op

from zxt.warehouse import roles

revision = "0901"
down_revision = "0601"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # roles.apply is also re-run after every upgrade (migrate.upgrade), so tables later migrations
    # add get the same grants; here it creates the roles and converges an existing warehouse.
    roles.apply(op.get_bind())


def downgrade() -> None:
    raise NotImplementedError("the warehouse only moves forward; restore a backup to go back")
