"""The Airflow REST API (v2) as the operator's commands use it: runs by business date, the right
clear after fixing bad data, backfills, and what keeps a backfill from running (a paused DAG)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx

from zxt.core.settings import Settings, get_settings

NIGHTLY = "zxt_nightly"


class AirflowApiError(RuntimeError):
    pass


def logical_date_of(day: date) -> datetime:
    """The logical date the nightly schedule gives business date ``day``: 00:00 UTC of that date."""
    return datetime.combine(day, time(0), UTC)


class Client:
    def __init__(self, settings: Settings | None = None, timeout_s: float = 30) -> None:
        self.settings = settings or get_settings()
        af = self.settings.airflow
        self.base = af.base_url
        token = self._token(af.username, af.password, timeout_s)
        self.http = httpx.Client(
            base_url=f"{self.base}/api/v2", headers={"Authorization": f"Bearer {token}"}, timeout=timeout_s
        )

    def _token(self, username: str, password: str, timeout_s: float) -> str:
        try:
            r = httpx.post(
                f"{self.base}/auth/token",
                json={"username": username, "password": password},
                timeout=timeout_s,
            )
        except httpx.HTTPError as exc:
            raise AirflowApiError(
                f"Airflow API at {self.base} does not answer ({exc}): is `zxt airflow up` running?"
            ) from exc
        if r.status_code >= 400:
            raise AirflowApiError(
                f"login to {self.base} as {username!r} refused ({r.status_code}): {r.text[:200]}"
            )
        return r.json()["access_token"]

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        r = self.http.request(method, path, **kwargs)
        if r.status_code >= 400:
            raise AirflowApiError(f"{method} {path}: {r.status_code} {r.text[:500]}")
        return r.json() if r.content else None

    # -- runs -------------------------------------------------------------------------------------
    def runs(self, dag_id: str = NIGHTLY, **params: Any) -> list[dict]:
        params.setdefault("limit", 100)
        params.setdefault("order_by", "-logical_date")
        return self.call("GET", f"/dags/{dag_id}/dagRuns", params=params)["dag_runs"]

    def run_for(self, day: date, dag_id: str = NIGHTLY) -> dict | None:
        """The run that builds business date ``day`` (the latest, if several)."""
        lo = logical_date_of(day) - timedelta(hours=8)  # any logical time on that Guangshui date
        hi = lo + timedelta(days=1) - timedelta(microseconds=1)
        runs = self.runs(dag_id, logical_date_gte=lo.isoformat(), logical_date_lte=hi.isoformat())
        return runs[0] if runs else None

    def task_instances(self, run_id: str, dag_id: str = NIGHTLY) -> list[dict]:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 1000})[
            "task_instances"
        ]

    def rerun(self, day: date, dag_id: str = NIGHTLY) -> dict:
        """After fixing bad data, rebuild the date from the start: clear every task of its run (ingest
        reloads the changed files, dbt rebuilds, the gates judge again); no run yet → trigger one.
        Delivery stays idempotent: nothing already sent is sent again."""
        run = self.run_for(day, dag_id)
        if run is None:
            return self.call(
                "POST",
                f"/dags/{dag_id}/dagRuns",
                json={
                    "logical_date": logical_date_of(day).isoformat(),
                    "note": f"Business date {day}: zxt rerun",
                },
            )
        self.call("POST", f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}/clear", json={"dry_run": False})
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}")

    # -- backfills --------------------------------------------------------------------------------
    def create_backfill(self, first: date, last: date, dag_id: str = NIGHTLY, **options: Any) -> dict:
        """A backfill of business dates first…last (the dialog's defaults unless ``options`` say otherwise)."""
        body = {
            "dag_id": dag_id,
            "from_date": logical_date_of(first).isoformat(),
            "to_date": logical_date_of(last).isoformat(),
            **options,
        }
        return self.call("POST", "/backfills", json=body)

    def dag(self, dag_id: str = NIGHTLY) -> dict:
        return self.call("GET", f"/dags/{dag_id}")


@dataclass
class Stuck:
    dag_id: str
    queued_runs: int
    backfills: int

    @property
    def message(self) -> str:
        return (
            f"{self.dag_id} is paused: {self.queued_runs} queued run(s) of {self.backfills} backfill(s) will not "
            f"start until it is unpaused — `zxt airflow dags unpause {self.dag_id}` (or the toggle in the UI)"
        )


def paused_with_backfills(client: Client) -> list[Stuck]:
    """Backfills that cannot make progress because their DAG is paused (they wait without a word)."""
    stuck = []
    for d in client.call("GET", "/dags", params={"paused": True, "limit": 100})["dags"]:
        backfills = [
            b
            for b in client.call("GET", "/backfills", params={"dag_id": d["dag_id"], "limit": 100})[
                "backfills"
            ]
            if not b.get("completed_at")
        ]
        if not backfills:
            continue
        queued = client.runs(d["dag_id"], state=["queued"], run_type=["backfill"])
        stuck.append(Stuck(d["dag_id"], len(queued), len(backfills)))
    return stuck
