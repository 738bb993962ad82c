"""Source gate: the drops a date's marts read must have arrived whole before those marts publish.

For every landing dataset, four checks on the drop dated ``as_of`` (policy: expectations/sources.yml):
- arrival: a drop for the date was loaded (a snapshot must not fall back to an older one: that would
  send a bank an enterprise that revoked its authorisation since, or text a contact's old number);
- rejected share: the share of the drop's rows the contract refused (a filings drop refused whole
  would otherwise read as "nothing filed" and remind taxpayers who did file);
- volume: rows loaded against the median of the dataset's recent drops (a registry cut to 40 % would
  otherwise shrink every warning and referral by 60 % without a sound); an empty snapshot fails
  unless the dataset may legitimately be empty (no bank authorisations yet);
- quarantine: files of the drop refused whole (a warning: their rows count as rejected above) and
  landing paths refused unread, symlinks or paths leaving the landing zone (an error).
Each check is recorded in ``ops.gate_results``. A failed check of severity error blocks every gated
mart that reads the dataset (lineage from the dbt manifest); the others build and publish. When every
gated mart is blocked the gate fails as a whole (nothing downstream can publish).
"""

from __future__ import annotations

import logging
import statistics
from datetime import date, datetime

import sqlalchemy as sa

from zxt.core import mart_registry
from zxt.core.errors import GateFailed
from zxt.core.settings import Settings, get_settings
from zxt.ingest import contracts
from zxt.ingest.source_policy import DatasetPolicy, policy_for
from zxt.warehouse import gate_log, migrate
from zxt.warehouse import server as warehouse

log = logging.getLogger(__name__)

DROP_SQL = """
select count(*) filter (where status = 'loaded') as files, coalesce(sum(rows_loaded), 0) as loaded,
       coalesce(sum(rows_rejected), 0) as rejected
from ops.load_batches where dataset = :n and drop_date = :d
"""
# Files of the drop refused whole, and landing paths of the dataset refused unread (symlinks,
# misnamed date folders): the drop is incomplete, whatever loaded beside them.
REFUSED_SQL = """
select source_file as path, reason from ops.load_batches
where dataset = :n and drop_date = :d and status = 'quarantined'
union all
select path, reason from ops.landing_refusals
where dataset = :n and (drop_date = :d or drop_date is null)
order by path
"""
HISTORY_SQL = """
select drop_date, sum(rows_loaded) as loaded from ops.load_batches
where dataset = :n and drop_date < :d group by drop_date order by drop_date desc limit :k
"""


def check_sources(as_of: date, settings: Settings | None = None) -> dict:
    """Check every landing dataset's drop for ``as_of``; returns the report, raises when nothing can publish."""
    settings = settings or get_settings()
    registry = mart_registry.load(settings)
    engine = warehouse.engine(settings, role="loader")
    migrate.ensure_current(engine)
    policy_file = settings.paths.expectations_dir / "sources.yml"
    now = settings.clock.now()
    report: dict = {"as_of_date": as_of.isoformat(), "datasets": {}, "blocked_marts": {}}
    checks: list[gate_log.Check] = []
    with engine.connect() as conn:
        for ds in contracts.load_contracts().values():
            policy = policy_for(ds, policy_file)
            drop = conn.execute(sa.text(DROP_SQL), {"n": ds.name, "d": as_of}).one()
            history = [
                int(r.loaded)
                for r in conn.execute(sa.text(HISTORY_SQL), {"n": ds.name, "d": as_of, "k": policy.history})
            ]
            found = _dataset_checks(
                policy, as_of, now, int(drop.files), int(drop.loaded), int(drop.rejected), history
            )
            refused = conn.execute(sa.text(REFUSED_SQL), {"n": ds.name, "d": as_of}).all()
            found.append(_refused(ds.name, refused))
            checks += found
            report["datasets"][ds.name] = {
                "load": ds.load,
                "read_by": registry.readers_of(ds.name),
                "rows_loaded": int(drop.loaded),
                "rows_rejected": int(drop.rejected),
                "checks": {c.details["check"]: "ok" if c.success else c.severity for c in found},
            }
    for mart in registry:
        blocked_by = [
            {"dataset": c.details["dataset"], "check": c.details["check"], "reason": c.observed["reason"]}
            for c in checks
            if c.is_error and c.mart is None and c.details["dataset"] in mart.datasets
        ]
        if blocked_by:
            report["blocked_marts"][mart.name] = blocked_by
        checks.append(
            gate_log.Check(
                gate_log.INPUTS,
                not blocked_by,
                "error",
                observed={"status": "blocked" if blocked_by else "passed", "blocked_by": blocked_by},
                details={"datasets": list(mart.datasets)},
                mart=mart.name,
            )
        )
    with engine.begin() as conn:
        report["run_id"] = gate_log.record(conn, as_of, gate_log.SOURCE_GATE, checks)
    report["errors"] = [f"{c.name}: {c.observed['reason']}" for c in checks if c.is_error and c.mart is None]
    report["warnings"] = [f"{c.name}: {c.observed['reason']}" for c in checks if c.is_warning]
    summary = _summary(report, len(registry))
    if registry.names and len(report["blocked_marts"]) == len(registry):
        log.error("%s", summary)
        raise GateFailed(
            summary + " Check the landing zone and raw.rejects; an older snapshot is not used instead."
        )
    (log.warning if report["errors"] or report["warnings"] else log.info)("%s", summary)
    return report


def _check(
    dataset: str, check: str, severity: str | None, observed: dict, thresholds: dict | None = None
) -> gate_log.Check:
    """A passed check when ``severity`` is None, else a failed one of that severity."""
    details = {"dataset": dataset, "check": check, **(thresholds or {})}
    return gate_log.Check(f"{dataset}: {check}", severity is None, severity, observed, details)


def _dataset_checks(
    p: DatasetPolicy,
    as_of: date,
    now: datetime,
    files: int,
    loaded: int,
    rejected: int,
    history: list[int],
) -> list[gate_log.Check]:
    name = p.dataset
    deadline = p.deadline(as_of)
    if not files:
        when = "late: was due" if now >= deadline else "not due yet: expected"
        reason = f"no file of the {as_of} drop is loaded (missing, late or refused whole); {when} by {deadline:%Y-%m-%d %H:%M}"
        return [_check(name, "arrival", "error", {"reason": reason, "expected_by": deadline.isoformat()})]
    out = [_check(name, "arrival", None, {"reason": "loaded", "files": files})]
    read = loaded + rejected
    share = rejected / read if read else 0.0
    severity = None
    if share >= p.rejected_error:
        severity = "error" if rejected >= p.min_rows else "warning"
    elif share >= p.rejected_warning:
        severity = "warning"
    out.append(
        _check(
            name,
            "rejected_share",
            severity,
            {
                "reason": f"{rejected} of {read} rows rejected ({share:.1%}); see raw.rejects",
                "rows_rejected": rejected,
                "rows_read": read,
                "share": round(share, 4),
            },
            {"warning": p.rejected_warning, "error": p.rejected_error, "min_rows": p.min_rows},
        )
    )
    out.append(_volume(p, loaded, history))
    return out


def _refused(name: str, refused: list) -> gate_log.Check:
    """Files refused whole and paths refused unread. A quarantined file's rows count as rejected, so
    the arrival and rejected-share checks judge how much of the drop is missing: here it is a
    warning. A path refused unread (a symlink, a path outside the landing zone) hides an unknown
    number of rows: an error."""
    if not refused:
        return _check(name, "quarantine", None, {"reason": "no file quarantined or refused"})
    unread = [r for r in refused if "symlink" in r.reason or "outside the landing zone" in r.reason]
    listed = "; ".join(f"{r.path}: {r.reason}" for r in refused[:5])
    more = f" (and {len(refused) - 5} more)" if len(refused) > 5 else ""
    return _check(
        name,
        "quarantine",
        "error" if unread else "warning",
        {
            "reason": f"{len(refused)} file(s) or path(s) of the drop quarantined or refused: {listed}{more}",
            "refused": [{"path": r.path, "reason": r.reason} for r in refused],
        },
    )


def _volume(p: DatasetPolicy, loaded: int, history: list[int]) -> gate_log.Check:
    name = p.dataset
    thresholds = {
        "error_below": p.volume_error_below,
        "warning_below": p.volume_warning_below,
        "warning_above": p.volume_warning_above,
        "may_be_empty": p.may_be_empty,
    }
    if loaded == 0 and not p.may_be_empty:
        return _check(
            name, "volume", "error", {"reason": "the drop has no rows", "rows_loaded": 0}, thresholds
        )
    if len(history) < p.min_history:
        reason = f"{loaded} rows; {len(history)} earlier drop(s), {p.min_history} needed to judge volume"
        return _check(name, "volume", None, {"reason": reason, "rows_loaded": loaded}, thresholds)
    median = statistics.median(history)
    ratio = loaded / median if median else (1.0 if loaded == 0 else float("inf"))
    observed = {"rows_loaded": loaded, "median": median, "ratio": round(ratio, 3) if median else None}
    severity = None
    if p.volume_error_below is not None and ratio < p.volume_error_below:
        severity = "error" if median - loaded >= p.min_rows else "warning"
    elif (p.volume_warning_below is not None and ratio < p.volume_warning_below) or (
        p.volume_warning_above is not None and median and ratio > p.volume_warning_above
    ):
        severity = "warning"
    observed["reason"] = (
        f"{loaded} rows loaded against a median of {median:g} over the last {len(history)} drops"
    )
    return _check(name, "volume", severity, observed, thresholds)


def _summary(report: dict, marts: int) -> str:
    blocked = report["blocked_marts"]
    parts = [
        f"source gate {report['as_of_date']}: {len(report['errors'])} error(s), {len(report['warnings'])} warning(s)"
    ]
    parts += [f"ERROR {e}" for e in report["errors"]]
    parts += [f"warning {w}" for w in report["warnings"]]
    parts.append(
        f"blocked marts: {sorted(blocked)} of {marts}"
        if blocked
        else f"all {marts} gated mart(s) may publish"
    )
    parts.append(f"full result: {gate_log.where_to_look(report['run_id'])}")
    return " — ".join(parts)
