"""Data-quality gates (GX Core) on a new mart partition. A failed gate blocks publish and delivery."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from zxt.core.errors import GateFailed
from zxt.core.identifiers import MOBILE_PATTERN
from zxt.core.settings import PROJECT_ROOT, Settings, get_settings
from zxt.warehouse import migrate
from zxt.warehouse import server as warehouse

log = logging.getLogger(__name__)
SUITES_DIR = PROJECT_ROOT / "expectations"


@dataclass
class GateResult:
    gate: str
    as_of_date: str
    success: bool
    rows: int
    failures: list[str]


def _suite_doc(name: str) -> dict:
    path = SUITES_DIR / f"{name}.json"
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _parameters(conn: sa.Connection, as_of: date) -> dict:
    # The band scales with the county: at most a dozen open warnings per registered enterprise, and
    # a county of any size always has someone due or late (a tiny test county may have nobody).
    enterprises = conn.execute(sa.text("select count(*) from stg.stg_tax__taxpayers")).scalar() or 0
    return {
        "min_rows": 1 if enterprises >= 100 else 0,
        "max_rows": max(12 * enterprises, 1),
        "mobile_pattern": MOBILE_PATTERN,
    }


def check_credit_warning(as_of: date, settings: Settings | None = None) -> GateResult:
    """Validate the credit_warning partition for ``as_of`` and record the outcome in ops.gate_results."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx  # heavy: imported only when a gate runs

    settings = settings or get_settings()
    engine = warehouse.engine(settings)
    migrate.ensure_current(engine)
    doc = _suite_doc("credit_warning")
    with engine.connect() as conn:
        params = _parameters(conn, as_of)
        rows = conn.execute(
            sa.text("select count(*) from marts.credit_warning where as_of_date = :d"), {"d": as_of}
        ).scalar()

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    source = context.data_sources.add_postgres(name="warehouse", connection_string=settings.warehouse.pg.url)
    asset = source.add_query_asset(
        name="credit_warning_partition",
        query=f"select * from marts.credit_warning where as_of_date = date '{as_of.isoformat()}'",
    )
    batch_definition = asset.add_batch_definition_whole_table("partition")
    suite = context.suites.add(gx.ExpectationSuite(name=doc["name"], expectations=doc["expectations"]))
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(
            name=f"credit_warning_{as_of.isoformat()}", data=batch_definition, suite=suite
        )
    )
    outcome = validation.run(expectation_parameters=params)

    failures: list[str] = []
    for r in outcome.results:
        if not r.success:
            cfg = r.expectation_config
            observed = (r.result or {}).get("observed_value", (r.result or {}).get("unexpected_count"))
            failures.append(
                f"{cfg.type} {cfg.kwargs.get('column') or cfg.kwargs.get('column_list') or ''}"
                f" failed (observed: {observed})".replace("  ", " ")
            )
    result = GateResult("credit_warning", as_of.isoformat(), bool(outcome.success), int(rows or 0), failures)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into ops.gate_results (as_of_date, gate, success, details) values (:d, :g, :s, :j)"
            ),
            {
                "d": as_of,
                "g": result.gate,
                "s": result.success,
                "j": json.dumps({"rows": result.rows, "failures": failures, "parameters": params}),
            },
        )
    if result.success:
        log.info("gate credit_warning passed for %s (%d rows)", as_of, result.rows)
    else:
        log.error("gate credit_warning FAILED for %s: %s", as_of, "; ".join(failures))
    return result


def require_pass(result: GateResult) -> None:
    if not result.success:
        raise GateFailed(
            f"mart gate '{result.gate}' failed for {result.as_of_date}: {'; '.join(result.failures)}. "
            "Publish and delivery are blocked for this date; yesterday's published data stays in place."
        )
