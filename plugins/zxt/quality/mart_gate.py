"""Mart gates (GX Core): validate one mart's new partition, per expectation, before publish.

Each gated mart of the registry has a suite ``expectations/<suite>.json``; its checks are recorded one
row each in ``ops.gate_results``. A failed check of severity ``critical`` is an error: the date is not
published (and is withdrawn if it was). A mart whose inputs the source gate blocked is not validated:
it is ``blocked`` and keeps its previous published date.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa

from zxt.core import mart_registry
from zxt.core.errors import GateFailed
from zxt.core.settings import Settings, get_settings
from zxt.quality import gate_params, publish
from zxt.warehouse import gate_log, migrate
from zxt.warehouse import server as warehouse

log = logging.getLogger(__name__)


@dataclass
class GateResult:
    mart: str
    as_of_date: str
    status: str  # passed | failed | blocked
    rows: int
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    run_id: str = ""

    @property
    def success(self) -> bool:
        return self.status == "passed"

    def summary(self) -> str:
        head = f"mart gate {self.mart} {self.as_of_date}: {self.status.upper()} ({self.rows} rows)"
        parts = [head]
        if self.errors:
            parts.append(f"{len(self.errors)} error(s): " + "; ".join(self.errors))
        if self.warnings:
            parts.append(f"{len(self.warnings)} warning(s): " + "; ".join(self.warnings))
        parts.append(f"full result: {gate_log.where_to_look(self.run_id)}")
        return " — ".join(parts)


def check_mart(name: str, as_of: date, settings: Settings | None = None) -> GateResult:
    """Gate ``name``'s partition for ``as_of``; the outcome is recorded whatever it is."""
    settings = settings or get_settings()
    mart = mart_registry.load(settings).get(name)
    engine = warehouse.engine(settings, role="transformer")
    migrate.ensure_current(engine)
    with engine.connect() as conn:
        inputs = gate_log.latest_verdicts(conn, as_of, gate_log.SOURCE_GATE).get(name)
    if inputs is None or inputs.status != "passed":
        return _blocked(engine, mart, as_of, inputs)

    problems = mart_registry.problems([mart], settings.paths.expectations_dir)
    with engine.connect() as conn:
        params, band = gate_params.parameters(conn, mart, as_of, settings)
        rows = int(
            conn.execute(
                sa.text(f"select count(*) from {mart.relation} where {mart.partition} = :d"), {"d": as_of}
            ).scalar()
            or 0
        )
    checks = [gate_log.Check(f"declaration: {p}", False, "error", mart=name) for p in problems] or _run_suite(
        settings, mart, as_of, params
    )
    errors = [_describe(c) for c in checks if c.is_error]
    warnings = [_describe(c) for c in checks if c.is_warning]
    status = "failed" if errors else "passed"
    verdict = gate_log.Check(
        gate_log.VERDICT,
        status == "passed",
        "error",
        observed={"status": status, "rows": rows, "errors": len(errors), "warnings": len(warnings)},
        details={"parameters": params, "row_band": band.basis, "suite": mart.suite},
        mart=name,
    )
    with engine.begin() as conn:
        run_id = gate_log.record(conn, as_of, gate_log.MART_GATE, [*checks, verdict])
        if status == "failed":
            # A rebuilt date that fails must not stay visible: every mart falls back to its previous date.
            publish.withdraw(conn, as_of, None, f"mart gate {name} failed (run {run_id})")
    result = GateResult(name, as_of.isoformat(), status, rows, errors, warnings, run_id)
    (log.info if result.success else log.error)("%s", result.summary())
    return result


def _blocked(
    engine: sa.Engine, mart: mart_registry.GatedMart, as_of: date, inputs: gate_log.Verdict | None
) -> GateResult:
    reason = (
        "no source gate result for this date: run the source gate first (zxt gate -d DATE)"
        if inputs is None
        else "inputs blocked by the source gate: "
        + "; ".join(
            f"{b['dataset']} {b['check']}: {b['reason']}" for b in inputs.observed.get("blocked_by", [])
        )
    )
    checks = [
        gate_log.Check("inputs", False, "error", observed={"reason": reason}, mart=mart.name),
        gate_log.Check(
            gate_log.VERDICT, False, "error", observed={"status": "blocked", "rows": 0}, mart=mart.name
        ),
    ]
    with engine.begin() as conn:
        run_id = gate_log.record(conn, as_of, gate_log.MART_GATE, checks)
        publish.withdraw(conn, as_of, [mart.name], reason)
    result = GateResult(mart.name, as_of.isoformat(), "blocked", 0, [reason], [], run_id)
    log.warning("%s", result.summary())
    return result


def _run_suite(
    settings: Settings, mart: mart_registry.GatedMart, as_of: date, params: dict
) -> list[gate_log.Check]:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx  # heavy: imported only when a gate runs

    doc = json.loads((settings.paths.expectations_dir / f"{mart.suite}.json").read_text(encoding="utf-8"))
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    source = context.data_sources.add_postgres(
        name="warehouse", connection_string=settings.warehouse.pg_as("transformer").url
    )
    asset = source.add_query_asset(
        name=f"{mart.name}_partition",
        query=f"select * from {mart.relation} where {mart.partition} = date '{as_of.isoformat()}'",
    )
    suite = context.suites.add(gx.ExpectationSuite(name=doc["name"], expectations=doc["expectations"]))
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(
            name=f"{mart.name}_{as_of.isoformat()}",
            data=asset.add_batch_definition_whole_table("partition"),
            suite=suite,
        )
    )
    outcome = validation.run(expectation_parameters=params)
    return [_check(mart.name, r) for r in outcome.results]


def _check(mart: str, r) -> gate_log.Check:
    cfg = r.expectation_config
    meta = dict(cfg.meta or {})
    target = cfg.kwargs.get("column") or cfg.kwargs.get("column_list") or ""
    name = meta.get("check") or f"{cfg.type}({target})"
    result = r.result or {}
    observed = {
        k: result[k]
        for k in ("observed_value", "element_count", "unexpected_count", "unexpected_percent", "details")
        if k in result
    }
    if r.exception_info and r.exception_info.get("raised_exception"):
        observed["exception"] = str(r.exception_info.get("exception_message", ""))[:500]
    for info in (r.exception_info or {}).values():  # a metric that failed to compute fails the check
        if isinstance(info, dict) and info.get("raised_exception"):
            observed["exception"] = str(info.get("exception_message", ""))[:500]
    severity = getattr(getattr(cfg, "severity", None), "value", "critical")
    kwargs = {k: v for k, v in cfg.kwargs.items() if k not in ("result_format", "catch_exceptions")}
    return gate_log.Check(
        name,
        bool(r.success),
        "error" if severity == "critical" else "warning",
        observed=observed,
        details={"expectation": cfg.type, "kwargs": kwargs, "why": meta.get("why", "")},
        mart=mart,
    )


def _describe(check: gate_log.Check) -> str:
    o = check.observed
    seen = o.get("exception") or o.get("unexpected_count", o.get("observed_value"))
    return f"{check.name} (observed: {seen})"


def require_pass(result: GateResult) -> None:
    if result.status == "failed":
        raise GateFailed(
            f"{result.summary()}. Publish and delivery are blocked for this date; every *_current view keeps "
            "its previous published date."
        )
