"""Originals of every landing file, kept under their SHA-256."""

from __future__ import annotations

import hashlib
import shutil
from datetime import date
from pathlib import Path

from zxt.core.settings import Settings
from zxt.ingest.contracts import Dataset

CHUNK = 1 << 20


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def relative(path: Path, settings: Settings) -> str:
    try:
        return str(path.resolve().relative_to(settings.paths.landing.resolve()))
    except ValueError:
        return str(path.resolve())


def archive(path: Path, ds: Dataset, drop_date: date, sha: str, settings: Settings) -> Path:
    target = settings.paths.archive / ds.name / drop_date.isoformat() / f"{sha[:16]}__{path.name}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".part")
        shutil.copyfile(path, tmp)
        tmp.replace(target)
    return target
