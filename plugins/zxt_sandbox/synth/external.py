"""External departments' data for the synthetic county: what the city credit-sharing platform
(信用信息共享平台) knows about each enterprise on a business date.

One generator feeds both the landing-zone files (``generate``) and the platform simulator
(``zxt_sandbox.credit_platform``), so a pull from the simulator and the generated drop agree row for
row. Stories the marts can find: enterprises whose tax status is abnormal are on market
regulation's abnormal list; chronic non-filers end up as dishonest judgment debtors; a failing
enterprise's insured staff falls and a factory's electricity use collapses; strong manufacturers
hold 专精特新 / 创新型 designations; exporters carry a customs rating.

Snapshots (lists, ratings, monthly figures) give the state as known on the day; the delta
(registration changes) gives the changes dated that day, the first drop of a county carrying the
history up to it. Everything is a function of (seed, enterprise index): no global RNG, no clock.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from zxt_sandbox.synth.county import _County
from zxt_sandbox.synth.enterprise import _Enterprise
from zxt_sandbox.synth.tables import _MANUFACTURING

EXTERNAL = (
    "market/abnormal_list",
    "market/serious_violations",
    "market/registration_changes",
    "court/dishonest_debtors",
    "hr/insured_staff",
    "customs/credit_ratings",
    "power/electricity_use",
    "industry/designations",
)
MONTHS_KEPT = 6  # monthly snapshots carry the trailing six published months
STAFF_PUBLISHED_DAY = 15  # month M's insured staff is published on the 15th of M+1
POWER_PUBLISHED_DAY = 10  # month M's electricity use on the 10th of M+1
_BASE_STAFF = {"micro": (1, 9), "small": (10, 99), "medium": (100, 299), "large": (300, 1200)}
_KWH_PER_STAFF = (900, 2600)
_ITEMS = ("legal_representative", "registered_capital", "address", "business_scope", "shareholders", "name")
_AUTHORITY = "广水市市场监督管理局"
_COURTS = ("广水市人民法院", "随州市中级人民法院", "随县人民法院")


@dataclass(frozen=True)
class Story:
    """What the platform knows about one enterprise, drawn once."""

    abnormal_listed: date | None
    abnormal_reason: str
    abnormal_removed: date | None
    violation_listed: date | None
    debtor_cases: tuple[
        tuple[str, date, str, str, date | None], ...
    ]  # case_no, published, court, amount, removed
    staff_base: int  # 0: no insured staff (individual businesses, no employees)
    decline_from: date | None  # staff and electricity fall from this month on
    power_account: str  # empty: no metered account on file (not an industrial user)
    customs: tuple[str, str, date] | None  # customs code, rating, rated date
    designations: tuple[tuple[str, str, date], ...]  # designation, level, granted
    changes: tuple[tuple[str, date, str, str, str], ...]  # change_id, date, item, before, after


def story(county: _County, e: _Enterprise) -> Story:
    rng = random.Random(f"{county.seed}:{e.idx}:external")
    start = county.start
    failing = e.status in ("abnormal", "suspended") or (e.profile == "chronic" and rng.random() < 0.3)
    # Market regulation lists what the tax office also saw: unreachable addresses, missing reports.
    abnormal_listed, reason, removed = None, "", None
    if e.status == "abnormal" and e.status_since is not None:
        abnormal_listed, reason = e.status_since + timedelta(days=rng.randint(20, 90)), "address_unreachable"
    elif rng.random() < 0.015:
        abnormal_listed, reason = (
            date(start.year, 7, 1) - timedelta(days=365 * rng.randint(0, 2)),
            "annual_report_missing",
        )
        if rng.random() < 0.4:
            removed = abnormal_listed + timedelta(days=rng.randint(30, 200))
    violation = (
        abnormal_listed + timedelta(days=rng.randint(365, 900))
        if abnormal_listed and reason == "address_unreachable" and rng.random() < 0.3
        else None
    )
    cases = []
    if (e.profile == "chronic" and rng.random() < 0.12) or rng.random() < 0.003:
        for k in range(1 + (rng.random() < 0.3)):
            published = start - timedelta(days=rng.randint(-20, 700))
            amount = f"{rng.randint(20, 3000) * 100}.00"
            gone = published + timedelta(days=rng.randint(60, 400)) if rng.random() < 0.25 else None
            case = f"({published.year})鄂1381执{rng.randint(100, 9999)}号"
            cases.append((case + (f"之{k}" if k else ""), published, rng.choice(_COURTS), amount, gone))
    employs = e.entity_type in ("company", "branch", "partnership")
    lo, hi = _BASE_STAFF[e.size]
    staff = rng.randint(lo, hi) if employs else 0
    decline = None
    if failing and employs:
        decline = _month(start) - timedelta(days=31 * rng.randint(0, 4))
        decline = decline.replace(day=1)
    manu = e.industry in _MANUFACTURING
    account = f"42{e.idx:08d}" if manu or (employs and rng.random() < 0.1) else ""
    customs = None
    if e.exporter:
        rating = "advanced_certified" if e.base_level == "A" and rng.random() < 0.5 else "general"
        if e.base_level == "D" and rng.random() < 0.5:
            rating = "dishonest"
        customs = (
            f"42{e.idx % 10000:04d}{rng.randint(1000, 9999)}",
            rating,
            start - timedelta(days=rng.randint(30, 900)),
        )
    designations = []
    if manu and e.size in ("small", "medium") and e.base_level in ("A", "B") and not failing:
        u = rng.random()
        granted = start - timedelta(days=rng.randint(10, 3 * 365 - 30))
        if u < 0.06:
            designations.append(("innovative_sme", "provincial", granted))
        if u < 0.025:
            designations.append(("specialised_sme", "provincial", granted + timedelta(days=200)))
        if u < 0.004:
            designations.append(("little_giant", "national", granted + timedelta(days=400)))
    changes = []
    day = max(e.registered, start - timedelta(days=365)) + timedelta(days=rng.randint(20, 200))
    n = 0
    while day <= county.end + timedelta(days=60):
        item = rng.choice(_ITEMS)
        before, after = _change_values(rng, e, item)
        n += 1
        changes.append((f"BG{e.idx:06d}{n:03d}", day, item, before, after))
        day += timedelta(days=rng.randint(120, 900))
    return Story(
        abnormal_listed=abnormal_listed,
        abnormal_reason=reason,
        abnormal_removed=removed,
        violation_listed=violation,
        debtor_cases=tuple(cases),
        staff_base=staff,
        decline_from=decline,
        power_account=account,
        customs=customs,
        designations=tuple(designations),
        changes=tuple(changes),
    )


def _change_values(rng: random.Random, e: _Enterprise, item: str) -> tuple[str, str]:
    if item == "registered_capital":
        a = rng.randint(5, 500) * 10_000
        return f"{a}", f"{a + rng.randint(1, 100) * 10_000}"
    if item == "address":
        return f"广水市应山街道{rng.randint(1, 300)}号", f"广水市十里街道{rng.randint(1, 300)}号"
    if item == "name":
        return e.name, e.name.replace("有限公司", "科技有限公司") if "有限公司" in e.name else e.name
    return "(略)", "(略)"


def _month(d: date) -> date:
    return d.replace(day=1)


def _months_published(day: date, published_day: int) -> list[date]:
    """The MONTHS_KEPT latest months whose figures are published on or before ``day``."""
    latest = _month(day) - timedelta(days=1)  # last month ...
    if day.day < published_day:  # ... unless it is not published yet this month
        latest = _month(latest) - timedelta(days=1)
    months = []
    m = _month(latest)
    for _ in range(MONTHS_KEPT):
        months.append(m)
        m = _month(m - timedelta(days=1))
    return sorted(months)


def rows(
    county: _County, e: _Enterprise, s: Story, dataset: str, day: date, history: bool
) -> list[list[str]]:
    """The enterprise's rows of ``dataset`` in the drop for ``day`` (contract column order).
    ``history``: a delta dataset's first drop carries every earlier change too."""
    if e.registered > day:
        return []
    iso = date.isoformat
    if dataset == "market/abnormal_list":
        if s.abnormal_listed is None or s.abnormal_listed > day:
            return []
        removed = s.abnormal_removed if s.abnormal_removed and s.abnormal_removed <= day else None
        return [
            [
                e.uscc,
                e.name,
                iso(s.abnormal_listed),
                s.abnormal_reason,
                _AUTHORITY,
                iso(removed) if removed else "",
            ]
        ]
    if dataset == "market/serious_violations":
        if s.violation_listed is None or s.violation_listed > day:
            return []
        return [
            [
                e.uscc,
                e.name,
                iso(s.violation_listed),
                "被列入经营异常名录届满3年仍未履行相关义务",
                _AUTHORITY,
                "",
            ]
        ]
    if dataset == "market/registration_changes":
        return [
            [cid, e.uscc, iso(d), item, before, after]
            for cid, d, item, before, after in s.changes
            if d == day or (history and d < day)
        ]
    if dataset == "court/dishonest_debtors":
        out = []
        for case, published, court, amount, gone in s.debtor_cases:
            if published <= day:
                removed = iso(gone) if gone and gone <= day else ""
                out.append([case, e.uscc, e.name, court, iso(published), "unperformed", amount, removed])
        return out
    if dataset == "hr/insured_staff":
        if not s.staff_base:
            return []
        return [
            [e.uscc, iso(m), str(_staff(s, e, m))]
            for m in _months_published(day, STAFF_PUBLISHED_DAY)
            if m >= _month(e.registered)
        ]
    if dataset == "power/electricity_use":
        if not s.power_account:
            return []
        return [
            [e.uscc, s.power_account, iso(m), f"{_kwh(county, s, e, m):.2f}"]
            for m in _months_published(day, POWER_PUBLISHED_DAY)
            if m >= _month(e.registered)
        ]
    if dataset == "customs/credit_ratings":
        if s.customs is None or s.customs[2] > day:
            return []
        return [[e.uscc, s.customs[0], s.customs[1], iso(s.customs[2])]]
    if dataset == "industry/designations":
        return [
            [e.uscc, e.name, kind, level, iso(granted), iso(granted + timedelta(days=3 * 365))]
            for kind, level, granted in s.designations
            if granted <= day
        ]
    raise KeyError(f"no synthetic external dataset {dataset!r}")


def _staff(s: Story, e: _Enterprise, month: date) -> int:
    rng = random.Random(f"{e.idx}:{month}:staff")
    n = s.staff_base * rng.uniform(0.95, 1.05)
    if s.decline_from and month >= s.decline_from:
        n *= 0.8 ** (1 + (month.year - s.decline_from.year) * 12 + month.month - s.decline_from.month)
    return max(0, round(n))


def _kwh(county: _County, s: Story, e: _Enterprise, month: date) -> float:
    rng = random.Random(f"{e.idx}:{month}:kwh")
    per = random.Random(f"{county.seed}:{e.idx}:kwh").randint(*_KWH_PER_STAFF)
    kwh = max(s.staff_base, 3) * per * rng.uniform(0.9, 1.1)
    if s.decline_from and month >= s.decline_from:
        kwh *= 0.1  # the factory has all but stopped
    return kwh
