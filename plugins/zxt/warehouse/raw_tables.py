"""Building blocks for migrations of ``raw.*`` tables: contract types → PostgreSQL, lineage columns.

Migrations list their columns explicitly (a migration is frozen once released); the contract test
checks that head agrees with the landing contracts.
"""

from __future__ import annotations

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

LINEAGE_DDL = """_batch_id uuid not null,
  _source_file text not null,
  _row_number integer not null,
  _drop_date date not null,
  _loaded_at timestamptz not null default now(),
  _extra jsonb"""


def create_sql(table: str, columns: list[tuple[str, str]]) -> str:
    """DDL of ``raw.<table>`` with its contract columns (name, contract type) and lineage columns."""
    cols = ",\n  ".join(f"{name} {PG_TYPES[kind]}" for name, kind in columns)
    return f"""
create table raw.{table} (
  {cols},
  {LINEAGE_DDL}
);
create index {table}__drop on raw.{table} (_drop_date);
create index {table}__file on raw.{table} (_source_file);
"""


def add_columns_sql(table: str, columns: list[tuple[str, str]]) -> str:
    return "\n".join(f"alter table raw.{table} add column {name} {PG_TYPES[kind]};" for name, kind in columns)
