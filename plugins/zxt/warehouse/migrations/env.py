"""Alembic environment for the Python-owned warehouse schemas (raw, ops, delivery, zxt).

Run through ``zxt.warehouse.migrate`` (``zxt warehouse upgrade``), which hands over an open
connection; dbt owns everything from staging on and is not migrated here.
"""

from alembic import context

from zxt.warehouse.migrate import VERSION_SCHEMA, VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    version_table=VERSION_TABLE,
    version_table_schema=VERSION_SCHEMA,
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
