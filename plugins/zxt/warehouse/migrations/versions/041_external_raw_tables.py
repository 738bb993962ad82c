"""Raw tables of the external departments' datasets (credit-sharing platform API and XLSX sources).

Revision ID: 041
Revises: 051
Create Date: 2026-11-26
"""

from alembic import op

from zxt.warehouse import raw_tables
from zxt.warehouse.ddl import execute_script

revision = "041"
down_revision = "051"
branch_labels = None
depends_on = None

# Landing contracts as they are at this revision (frozen: later columns come in later revisions).
RAW_TABLES = [
    (
        "market__abnormal_list",
        [
            ("uscc", "uscc"),
            ("enterprise_name", "text"),
            ("listed_date", "date"),
            ("reason", "enum"),
            ("authority", "text"),
            ("removed_date", "date"),
        ],
    ),
    (
        "market__serious_violations",
        [
            ("uscc", "uscc"),
            ("enterprise_name", "text"),
            ("listed_date", "date"),
            ("reason", "text"),
            ("authority", "text"),
            ("removed_date", "date"),
        ],
    ),
    (
        "market__registration_changes",
        [
            ("change_id", "text"),
            ("uscc", "uscc"),
            ("change_date", "date"),
            ("item", "enum"),
            ("before_value", "text"),
            ("after_value", "text"),
        ],
    ),
    (
        "court__dishonest_debtors",
        [
            ("case_no", "text"),
            ("uscc", "uscc"),
            ("debtor_name", "text"),
            ("court", "text"),
            ("published_date", "date"),
            ("performance", "enum"),
            ("amount_due", "numeric"),
            ("removed_date", "date"),
        ],
    ),
    (
        "hr__insured_staff",
        [
            ("uscc", "uscc"),
            ("month", "date"),
            ("insured_count", "int"),
        ],
    ),
    (
        "customs__credit_ratings",
        [
            ("uscc", "uscc"),
            ("customs_code", "text"),
            ("rating", "enum"),
            ("rated_date", "date"),
        ],
    ),
    (
        "power__electricity_use",
        [
            ("uscc", "uscc"),
            ("account_no", "text"),
            ("month", "date"),
            ("kwh", "numeric"),
        ],
    ),
    (
        "industry__designations",
        [
            ("uscc", "uscc"),
            ("enterprise_name", "text"),
            ("designation", "enum"),
            ("level", "enum"),
            ("granted_date", "date"),
            ("expires_date", "date"),
        ],
    ),
]


def upgrade() -> None:
    execute_script(op.get_bind(), "\n".join(raw_tables.create_sql(t, cols) for t, cols in RAW_TABLES))


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup")
