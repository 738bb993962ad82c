"""Benchmark: the wall time of one night of zxt_nightly under the real scheduler (`zxt airflow up`),
triggered through the REST API for a business date of the landing zone (the demo's county by default)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime

from zxt.core.settings import Settings, get_settings


@dataclass
class NightTiming:
    business_date: date
    run_id: str
    state: str
    wall_s: float  # the run's start_date → end_date, as the scheduler recorded them
    tasks: int
    slowest: list[tuple[str, float]]


def run(day: date, settings: Settings | None = None, timeout_s: float = 3600) -> NightTiming:
    from zxt.orchestration import api, local_airflow

    settings = settings or get_settings()
    local_airflow.up(settings)
    client = api.Client(settings)
    if client.dag().get("is_paused"):
        before = {r["dag_run_id"] for r in client.runs(run_type=["scheduled"])}
        client.call("PATCH", "/dags/zxt_nightly", json={"is_paused": False})
        # Unpausing starts the real calendar's latest night, which a synthetic county has no drops
        # for: stop it so it does not compete with the night measured.
        for _ in range(60):
            new = [r for r in client.runs(run_type=["scheduled"]) if r["dag_run_id"] not in before]
            if new:
                for r in new:
                    client.call(
                        "PATCH", f"/dags/zxt_nightly/dagRuns/{r['dag_run_id']}", json={"state": "failed"}
                    )
                break
            time.sleep(2)
    run_ = client.rerun(day)  # clears the date's run, or triggers one
    run_id = run_["dag_run_id"]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run_ = client.call("GET", f"/dags/zxt_nightly/dagRuns/{run_id}")
        if run_["state"] in ("success", "failed"):
            break
        time.sleep(10)
    tis = client.task_instances(run_id)
    durations = sorted(
        (
            (
                f"{t['task_id']}[{t['map_index']}]" if t["map_index"] >= 0 else t["task_id"],
                t.get("duration") or 0.0,
            )
            for t in tis
        ),
        key=lambda x: -x[1],
    )
    start, end = run_.get("start_date"), run_.get("end_date")
    wall = (
        (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
        if start and end
        else -1.0
    )
    return NightTiming(day, run_id, run_["state"], wall, len(tis), durations[:5])
