"""Constants, dates and deadlines shared by the synthetic county's modules."""

from __future__ import annotations

import csv
import random
from collections.abc import Sequence
from datetime import date, timedelta
from functools import cache
from pathlib import Path

from zxt.core.settings import PROJECT_ROOT

DEADLINES_CSV = PROJECT_ROOT / "dbt_project" / "seeds" / "filing_deadlines.csv"
DIVISION = "421381"  # 广水市
DATASETS = (
    "tax/taxpayers",
    "tax/obligations",
    "tax/filings",
    "credit/ratings",
    "bank/authorisations",
    "contact/consents",
)
# Each drop keeps 6 files open; bounding the drops per pass keeps us far below the fd limit on long
# backfills (the enterprise loop simply runs once per pass, regenerating the same county).
MAX_DROPS_PER_PASS = 60
RATING_PUBLISHED = (4, 25)  # results for year Y are published on Y+1-04-25
FULL_SCOPE = "basic|credit_level|tax_summary"


@cache
def load_deadlines(path: Path = DEADLINES_CSV) -> dict[tuple[int, int], date]:
    """(filing_year, filing_month) -> deadline from the dbt seed; national rows, local rows win."""
    if not path.exists():
        raise FileNotFoundError(f"filing-deadline seed {path} is missing: the synthetic county needs it")
    table: dict[tuple[int, int], tuple[int, date]] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            region = row.get("region_code") or "000000"
            if region not in ("000000", "420000", DIVISION):
                continue
            rank = {"000000": 0, "420000": 1}.get(region, 2)  # the most local calendar wins
            key = (int(row["filing_year"]), int(row["filing_month"]))
            if key not in table or rank > table[key][0]:
                table[key] = (rank, date.fromisoformat(row["deadline_date"]))
    return {k: v for k, (_, v) in table.items()}


def filing_deadline(year: int, month: int, deadlines: dict[tuple[int, int], date] | None = None) -> date:
    """Deadline of returns filed in (year, month): the seed calendar, else the statutory 15th."""
    table = load_deadlines() if deadlines is None else deadlines
    return table.get((year, month)) or date(year, month, 15)


# --- small date helpers ----------------------------------------------------------------------------
def _month_end(y: int, m: int) -> date:
    return (date(y + 1, 1, 1) if m == 12 else date(y, m + 1, 1)) - timedelta(days=1)


def _period_start(d: date, quarterly: bool) -> date:
    return date(d.year, (d.month - 1) // 3 * 3 + 1, 1) if quarterly else d.replace(day=1)


def _period_end(ps: date, quarterly: bool) -> date:
    return _month_end(ps.year, (ps.month - 1) // 3 * 3 + 3 if quarterly else ps.month)


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def _month_index(d: date) -> int:
    return d.year * 12 + d.month - 1


def _money(x: float) -> str:
    return f"{x:.2f}"


def _weighted(rng: random.Random, items: Sequence[tuple[str, float]]) -> str:
    total = sum(w for _, w in items)
    u = rng.random() * total
    for value, w in items:
        u -= w
        if u < 0:
            return value
    return items[-1][0]


def drop_file(out_dir: Path, dataset: str, day: date, suffix: str = "") -> Path:
    """Contract path of a dataset's file in the drop for business date ``day``."""
    entity = dataset.split("/")[1]
    return out_dir / dataset / day.isoformat() / f"{entity}_{day:%Y%m%d}{suffix}.csv"
