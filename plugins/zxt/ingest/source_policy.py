"""The source gate's policy per landing dataset, read from ``expectations/sources.yml``.

Layers: ``defaults`` < ``by_load.<snapshot|delta>`` < ``datasets.<system/dataset>``. A dataset's
expected arrival may also be declared in its landing contract (``expected_by``); the policy file is
the fallback.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from zxt.core.settings import BUREAU_TZ
from zxt.ingest.contracts import Dataset


@dataclass(frozen=True)
class DatasetPolicy:
    dataset: str
    load: str
    expected_by: time
    history: int
    min_history: int
    min_rows: int
    rejected_warning: float
    rejected_error: float
    volume_error_below: float | None
    volume_warning_below: float | None
    volume_warning_above: float | None
    may_be_empty: bool

    def deadline(self, as_of: date) -> datetime:
        """When the drop for ``as_of`` is due: ``expected_by`` on the next day, bureau time."""
        return datetime.combine(as_of + timedelta(days=1), self.expected_by, BUREAU_TZ)


@cache
def _document(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    unknown = set(doc) - {"defaults", "by_load", "datasets"}
    if unknown:
        raise ValueError(f"{path}: unknown sections {sorted(unknown)}")
    return doc


def _merge(*layers: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for layer in layers:
        for key, value in (layer or {}).items():
            out[key] = {**out.get(key, {}), **value} if isinstance(value, dict) else value
    return out


def policy_for(ds: Dataset, path: Path) -> DatasetPolicy:
    doc = _document(path)
    raw = _merge(
        doc.get("defaults", {}),
        doc.get("by_load", {}).get(ds.load, {}),
        doc.get("datasets", {}).get(ds.name, {}),
    )
    declared = getattr(ds, "expected_by", None)  # a contract may carry its own arrival time
    where = f"{path}: {ds.name}"
    try:
        expected = time.fromisoformat(str(declared or raw["expected_by"]))
        volume = raw.get("volume", {})
        return DatasetPolicy(
            dataset=ds.name,
            load=ds.load,
            expected_by=expected,
            history=int(raw["history"]),
            min_history=int(raw["min_history"]),
            min_rows=int(raw["min_rows"]),
            rejected_warning=float(raw["rejected_share"]["warning"]),
            rejected_error=float(raw["rejected_share"]["error"]),
            volume_error_below=volume.get("error_below"),
            volume_warning_below=volume.get("warning_below"),
            volume_warning_above=volume.get("warning_above"),
            may_be_empty=bool(raw.get("may_be_empty", False)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: incomplete or malformed policy ({exc!r})") from exc
