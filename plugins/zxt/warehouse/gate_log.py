"""``ops.gate_results``: one row per check of a gate run, shared by the source gate and the mart gates.

A run's rows share a ``run_id``. ``success`` says whether the check found nothing wrong; ``severity``
says how bad a failed check is (``error`` blocks, ``warning`` is recorded only; empty when it passed).
Each mart gate run ends with a ``verdict`` row, and each source gate run with one ``inputs`` row per
gated mart; publish and the summaries read those.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa

SOURCE_GATE = "sources"
MART_GATE = "mart"
VERDICT = "verdict"  # check_name of a mart gate run's outcome row
INPUTS = "inputs"  # check_name of the source gate's per-mart outcome rows


@dataclass(frozen=True)
class Check:
    name: str
    success: bool
    severity: str | None = None  # error | warning, for a failed check
    observed: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    mart: str | None = None

    @property
    def is_error(self) -> bool:
        return not self.success and self.severity == "error"

    @property
    def is_warning(self) -> bool:
        return not self.success and self.severity == "warning"


def record(conn: sa.Connection, as_of: date, gate: str, checks: list[Check]) -> str:
    """Insert the checks of one gate run; returns its run_id."""
    run_id = str(uuid.uuid4())
    if checks:
        conn.execute(
            sa.text(
                """insert into ops.gate_results (as_of_date, gate, run_id, mart, check_name, success, severity,
                                                 observed, details)
                   values (:d, :g, :r, :m, :c, :s, :sev, cast(:o as jsonb), cast(:j as jsonb))"""
            ),
            [
                {
                    "d": as_of,
                    "g": gate,
                    "r": run_id,
                    "m": c.mart,
                    "c": c.name,
                    "s": c.success,
                    "sev": None if c.success else (c.severity or "error"),
                    "o": json.dumps(c.observed, ensure_ascii=False, default=str),
                    "j": json.dumps(c.details, ensure_ascii=False, default=str),
                }
                for c in checks
            ],
        )
    return run_id


@dataclass(frozen=True)
class Verdict:
    mart: str
    status: str  # passed | failed | blocked (mart gate); passed | blocked (source gate inputs)
    run_id: str
    observed: dict[str, Any]


def latest_verdicts(conn: sa.Connection, as_of: date, gate: str) -> dict[str, Verdict]:
    """Per mart, the outcome row of the latest run of ``gate`` for a date."""
    check = VERDICT if gate == MART_GATE else INPUTS
    rows = conn.execute(
        sa.text(
            """select distinct on (mart) mart, success, run_id, observed
               from ops.gate_results
               where as_of_date = :d and gate = :g and check_name = :c and mart is not null
               order by mart, checked_at desc, run_id"""
        ),
        {"d": as_of, "g": gate, "c": check},
    ).all()
    out: dict[str, Verdict] = {}
    for r in rows:
        observed = dict(r.observed or {})
        status = observed.get("status") or ("passed" if r.success else "blocked")
        out[r.mart] = Verdict(r.mart, status, str(r.run_id), observed)
    return out


def run_rows(conn: sa.Connection, run_id: str) -> list[sa.Row]:
    return conn.execute(
        sa.text(
            """select mart, check_name, success, severity, observed, details from ops.gate_results
               where run_id = :r order by success, severity, check_name"""
        ),
        {"r": run_id},
    ).all()


def where_to_look(run_id: str) -> str:
    return f"select check_name, success, severity, observed from ops.gate_results where run_id = '{run_id}'"
