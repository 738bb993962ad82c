"""The taxpayer-credit rules in plain Python, written for the synthetic county from the facts
document (../shared/domain/credit-rules.md), independently of the dbt SQL: the county's published
ratings come from here, and the dbt engine must reproduce them (the differential check).

A rating of evaluation year Y is computed from what the bureau knows on its publication day
P = Y+1-04-25: returns filed by P, the registry as shown on P, the previous years' ratings.
Sources the county does not produce (inspections, statements, payments, bank accounts) play no
part: nobody starts at 100 (no non-regular information), as in the engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

# Facts document, "Score and level" and "Indicators".
START_2025_DECLARATIONS_COMPLETE = 93.0
START_2025_OTHERWISE = 90.0
START_2014_NO_NON_REGULAR = 90.0
RETURN_POINTS = 5.0  # 010101 tax returns, 010102 withholding returns
D_CARRY_OVER = 11.0
A_MIN, B_MIN, M_MIN, C_MIN = 90.0, 70.0, 70.0, 40.0
WITHHOLDING = {"IIT_WH"}  # indicator 010102; every other tax type files under 010101


@dataclass(frozen=True)
class Return:
    """A return the enterprise owes for one period, with what it filed (if it did)."""

    tax_type: str
    period_start: date
    period_end: date
    deadline: date
    filed: date | None
    sales: float = 0.0
    payable: float = 0.0


@dataclass(frozen=True)
class Rating:
    year: int
    score: float
    level: str


def rule_version(year: int) -> str:
    return "2025" if year >= 2025 else "2014-amended"


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:
        return d.replace(year=d.year + years, day=28)


def zero_vat_months(
    returns: Iterable[Return], year: int, known_at: date, version: str
) -> tuple[int, int, int, int]:
    """(months filed, months with sales, zero months, longest run of consecutive zero months) of the
    year's VAT returns known on ``known_at``; a quarter is three months. 2025 counts a zero month only
    without a normal reason (a return with sales and no tax is an exemption or a retained credit);
    2014-amended counts every zero or negative return."""
    months: dict[int, tuple[bool, bool]] = {}
    for r in returns:
        if r.tax_type != "VAT" or r.filed is None or r.filed > known_at:
            continue
        m = r.period_start.year * 12 + r.period_start.month - 1
        last = r.period_end.year * 12 + r.period_end.month - 1
        while m <= last:
            if m // 12 == year:
                zero = r.payable <= 0 and (version != "2025" or r.sales <= 0)
                months[m] = (zero, r.sales > 0)
            m += 1
    zero = [m for m, (z, _) in months.items() if z]
    longest = run = 0
    prev = None
    for m in sorted(zero):
        run = run + 1 if prev is not None and m == prev + 1 else 1
        longest, prev = max(longest, run), m
    return len(months), sum(1 for _, s in months.values() if s), len(zero), longest


def rate(
    year: int,
    returns: list[Return],
    *,
    registered: date,
    confirmed: date | None,
    first_declaration: date | None,
    abnormal_since: date | None,
    previous: Rating | None,
    before_previous: Rating | None,
) -> Rating:
    """The level and score of evaluation year ``year`` as published on Y+1-04-25."""
    known_at = date(year + 1, 4, 25)
    version = rule_version(year)
    due = [r for r in returns if r.deadline.year == year]
    failed = [r for r in due if r.filed is None or r.filed > known_at or r.filed > r.deadline]
    unfiled = [r for r in due if r.filed is None or r.filed > known_at]
    if version == "2025":
        # once per indicator and deadline month, however many returns of the month failed
        units = {
            ("010102" if r.tax_type in WITHHOLDING else "010101", r.deadline.year, r.deadline.month)
            for r in failed
        }
        deducted = RETURN_POINTS * len(units)
        start = START_2025_OTHERWISE if unfiled else START_2025_DECLARATIONS_COMPLETE
    else:  # per tax type per occurrence
        deducted = RETURN_POINTS * len(failed)
        start = START_2014_NO_NON_REGULAR
    by_score_d = previous is not None and previous.level == "D" and previous.score < C_MIN
    score = max(start - deducted - (D_CARRY_OVER if by_score_d else 0.0), 0.0)

    direct_d = (abnormal_since is not None and abnormal_since <= known_at) or (
        previous is not None and previous.level == "D" and previous.score >= C_MIN
    )
    business_start = first_declaration or confirmed or registered
    filed_months, sales_months, zero, longest = zero_vat_months(returns, year, known_at, version)
    not_a = (
        _add_years(business_start, 3) > date(year, 12, 31)
        or (previous is not None and previous.level == "D")
        or longest >= 3
        or zero >= 6
        or (before_previous is not None and before_previous.level == "D" and before_previous.score >= C_MIN)
    )
    is_m = (confirmed or registered) > date(year, 1, 1) or (filed_months > 0 and sales_months == 0)
    if direct_d or score < C_MIN:
        level = "D"
    elif is_m and score >= M_MIN:
        level = "M"
    elif score >= A_MIN and not not_a:
        level = "A"
    elif score >= B_MIN:
        level = "B"
    else:
        level = "C"
    return Rating(year, score, level)
