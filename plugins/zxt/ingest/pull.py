"""Pull one external dataset for one business date from the credit-sharing platform and land it
as an immutable file in the landing zone, so that reloads, archives, lineage and the contract
checks work exactly as for files sent by a department.

The file is ``<landing>/<system>/<dataset>/<date>/pull_<YYYYMMDD>_<sha12>.csv`` (UTF-8, contract
columns first, then any field the platform added — schema drift is the contract's business, not
the client's). It is written under a temporary name and renamed into place, read-only; the same
answer pulled again is the same file (nothing changes, ingest skips it); a different answer
replaces the drop's earlier files (a pull is the platform's whole answer for that date).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

from zxt.core.settings import Settings, get_settings
from zxt.ingest import archive, contracts
from zxt.ingest.platform_client import PlatformClient, PullStats

log = logging.getLogger(__name__)


@dataclass
class PullResult:
    dataset: str
    business_date: str
    file: str  # relative to the landing zone
    records: int
    changed: bool  # False: the same answer as the file already there
    replaced: list[str]  # earlier files of the drop removed
    columns_added: list[str]  # fields the platform sent that the contract does not know
    columns_missing: list[str]  # contract columns no record carried
    stats: dict


def pullable() -> list[str]:
    """Landing datasets that come from the platform's API."""
    return sorted(name for name, ds in contracts.load_contracts().items() if ds.pull)


def pull(
    dataset: str,
    business_date: date,
    settings: Settings | None = None,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> PullResult:
    settings = settings or get_settings()
    ds = contracts.get(dataset)
    if not ds.pull:
        raise ValueError(f"{dataset} is not pulled from the platform; pullable: {pullable()}")
    landing = settings.paths.landing
    folder = landing / ds.name / business_date.isoformat()
    incoming = landing / ".incoming"  # same file system as the drop: the rename is atomic
    incoming.mkdir(parents=True, exist_ok=True)
    client = PlatformClient(settings.platform, session, sleep)
    stats = PullStats()
    fields: dict[str, None] = {}
    # Spool to disk first: the header needs every field seen, and memory stays flat.
    with tempfile.TemporaryFile("w+", encoding="utf-8", dir=incoming) as spool:
        n = 0
        for rec in client.records(ds.pull, business_date, ds.key, stats):
            fields.update(dict.fromkeys(rec))
            spool.write(json.dumps(rec, ensure_ascii=False) + "\n")
            n += 1
        contract = [c for c in ds.column_names if c in fields or n == 0]
        added = [f for f in fields if f not in ds.column_names]
        missing = [c for c in ds.column_names if c not in fields] if n else []
        header = contract + added
        spool.seek(0)
        fd, tmp_name = tempfile.mkstemp(prefix=f"{ds.entity}_", suffix=".part", dir=incoming)
        tmp = Path(tmp_name)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            w = csv.writer(out, lineterminator="\n")
            w.writerow(header)
            for line in spool:
                rec = json.loads(line)
                w.writerow([_cell(rec.get(f)) for f in header])
    target = folder / f"pull_{business_date:%Y%m%d}_{archive.sha256(tmp)[:12]}.csv"
    folder.mkdir(parents=True, exist_ok=True)
    changed = not target.exists()
    if changed:
        tmp.chmod(0o444)
        os.replace(tmp, target)
    else:
        tmp.unlink()
    replaced = []
    for other in sorted(folder.iterdir()):
        if other != target and other.suffix.lower() == ".csv" and other.is_file() and not other.is_symlink():
            other.unlink()  # its original is in the archive if it was ever loaded
            replaced.append(other.name)
    rel = str(target.relative_to(landing))
    if added or missing:
        log.warning(
            "%s %s: schema change at the platform: added %s, missing %s",
            ds.name,
            business_date,
            added,
            missing,
        )
    log.info(
        "%s %s: %d record(s) in %d page(s) → %s (%s); %d duplicate(s) dropped, %d retry(ies), %d rate limit(s), %d restart(s)",
        ds.name, business_date, n, stats.pages, rel, "new" if changed else "unchanged",
        stats.duplicates, stats.retries, stats.rate_limited, stats.restarts,
    )  # fmt: skip
    out_stats = asdict(stats)
    out_stats["schema_versions"] = sorted(stats.schema_versions)
    return PullResult(
        ds.name, business_date.isoformat(), rel, n, changed, replaced, added, missing, out_stats
    )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):  # as sent, never rounded: too many decimals is the contract's reject
        return format(Decimal(repr(value)), "f")
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
