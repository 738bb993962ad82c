"""Helpers shared by tests."""

from __future__ import annotations

import socket

DERIVED_SCHEMAS = ("stg", "int", "marts", "rules")
OWNED_SCHEMAS = ("raw", "ops", "delivery", "zxt")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reset_warehouse(engine) -> None:
    """Drop everything the pipeline created: each scenario starts from an empty warehouse."""
    import sqlalchemy as sa

    from zxt.warehouse import migrate

    with engine.begin() as conn:
        for schema in DERIVED_SCHEMAS + OWNED_SCHEMAS:
            conn.execute(sa.text(f"drop schema if exists {schema} cascade"))
    migrate.forget_checks()
    migrate.upgrade(engine)


def gated_marts() -> list[str]:
    """Every gated mart of the dbt project (the registry): publish needs a verdict for each."""
    from zxt.core import mart_registry

    return sorted(mart_registry.load().names)


def select_gated_marts() -> list[str]:
    """`dbt run --select` arguments building every gated mart and what it reads."""
    return ["--select", *(f"+{m}" for m in gated_marts())]
