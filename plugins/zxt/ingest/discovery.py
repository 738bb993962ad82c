"""Find landing drops: ``<landing>/<system>/<dataset>/<YYYY-MM-DD>/`` folders of contracted datasets.

Nothing outside the landing zone is ever read: a symlink anywhere on the way (system, dataset or
date folder, or a file) is refused and reported, never followed, and so is a folder that is not a
strict ``YYYY-MM-DD`` date (``20250308`` would parse as an ISO date in Python 3.11, and so would
``2025-W10-6``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from zxt.core.settings import Settings, get_settings
from zxt.ingest import contracts

log = logging.getLogger(__name__)
DATE_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Drop:
    dataset: str
    drop_date: date
    path: Path  # a directory: <landing>/<system>/<dataset>/<YYYY-MM-DD>


@dataclass(frozen=True)
class Refusal:
    path: str  # relative to the landing zone
    dataset: str | None
    drop_date: date | None
    reason: str


def outside(path: Path, landing: Path) -> str | None:
    """Why ``path`` may not be read, or None: a symlink, or resolving outside the landing zone."""
    if path.is_symlink():
        return "is a symlink (never followed: it could point outside the landing zone)"
    try:
        path.resolve().relative_to(landing.resolve())
    except ValueError:
        return "resolves outside the landing zone"
    return None


def survey(
    as_of: date, settings: Settings | None = None, since: date | None = None
) -> tuple[list[Drop], list[Refusal]]:
    """Drops of every contracted dataset dated on or before ``as_of`` (and on or after ``since``),
    and the landing paths refused on the way."""
    settings = settings or get_settings()
    landing = settings.paths.landing
    drops: list[Drop] = []
    refused: list[Refusal] = []

    def refuse(path: Path, dataset: str | None, d: date | None, why: str) -> None:
        rel = str(path.relative_to(landing)) if path.is_relative_to(landing) else str(path)
        log.warning("landing zone: refusing %s: %s", rel, why)
        refused.append(Refusal(rel, dataset, d, why))

    for name in contracts.load_contracts():
        system = landing / name.split("/")[0]
        base = landing / name
        if not (system.exists() or system.is_symlink()):
            continue
        if why := outside(system, landing):
            refuse(system, name, None, why)
            continue
        if not (base.exists() or base.is_symlink()):
            continue
        if why := outside(base, landing):
            refuse(base, name, None, why)
            continue
        if not base.is_dir():
            continue
        for child in sorted(base.iterdir()):
            if not DATE_FOLDER.match(child.name):
                refuse(child, name, None, "folder name is not a YYYY-MM-DD business date")
                continue
            try:
                d = date.fromisoformat(child.name)
            except ValueError:
                refuse(child, name, None, "folder name is not a valid calendar date")
                continue
            if d > as_of or (since is not None and d < since):
                continue
            if why := outside(child, landing):
                refuse(child, name, d, why)
            elif child.is_dir():
                drops.append(Drop(name, d, child))
            else:
                refuse(child, name, d, "is not a folder")
    return sorted(drops, key=lambda dr: (dr.drop_date, dr.dataset)), refused


def discover(as_of: date, settings: Settings | None = None, since: date | None = None) -> list[Drop]:
    return survey(as_of, settings, since)[0]
