"""Find landing drops: ``<landing>/<system>/<dataset>/<YYYY-MM-DD>/`` folders of contracted datasets."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from zxt.core.settings import Settings, get_settings
from zxt.ingest import contracts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Drop:
    dataset: str
    drop_date: date
    path: Path  # a directory: <landing>/<system>/<dataset>/<YYYY-MM-DD>


def discover(as_of: date, settings: Settings | None = None, since: date | None = None) -> list[Drop]:
    """Drops of every contracted dataset dated on or before ``as_of`` (and on or after ``since``)."""
    settings = settings or get_settings()
    drops: list[Drop] = []
    for name in contracts.load_contracts():
        base = settings.paths.landing / name
        if not base.is_dir():
            continue
        for child in sorted(base.iterdir()):
            try:
                d = date.fromisoformat(child.name)
            except ValueError:
                log.warning("ignoring %s: folder name is not a YYYY-MM-DD business date", child)
                continue
            if child.is_dir() and d <= as_of and (since is None or d >= since):
                drops.append(Drop(name, d, child))
    return sorted(drops, key=lambda dr: (dr.drop_date, dr.dataset))
