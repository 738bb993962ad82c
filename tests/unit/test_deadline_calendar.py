"""The deadline-calendar seed against the official calendar table (domain/credit-rules.md)."""

import csv
from datetime import date
from pathlib import Path

import pytest

SEED = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds" / "filing_deadlines.csv"


@pytest.fixture(scope="module")
def calendar():
    with SEED.open(encoding="utf-8") as fh:
        return {
            (int(r["filing_year"]), int(r["filing_month"])): date.fromisoformat(r["deadline_date"])
            for r in csv.DictReader(fh)
        }


@pytest.mark.parametrize(
    ("year", "month", "day"),
    [
        (2024, 2, 23),  # Spring Festival
        (2024, 10, 24),  # National Day
        (2025, 1, 15),
        (2025, 10, 27),  # National Day + Mid-Autumn
        (2026, 1, 20),
        (2026, 2, 24),
        (2026, 10, 26),
        (2026, 11, 16),
        (2026, 12, 15),
    ],
)
def test_holiday_extended_deadlines(calendar, year, month, day):
    assert calendar[(year, month)] == date(year, month, day)


def test_calendar_covers_2024_to_2026_and_never_before_the_15th(calendar):
    assert set(calendar) == {(y, m) for y in (2024, 2025, 2026) for m in range(1, 13)}
    assert all(d.day >= 15 and (d.year, d.month) == k for k, d in calendar.items())
