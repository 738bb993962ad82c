"""Synthetic Guangshui (Hubei) county landing zone, for demos, tests and benchmarks.

``generate`` writes one drop per business date D in [start, end] in the layout of
``contracts/landing.yml``::

    <out_dir>/<system>/<dataset>/<YYYY-MM-DD>/<dataset>_<YYYYMMDD>.csv

* Snapshot datasets (tax/taxpayers, tax/obligations, credit/ratings, bank/authorisations): every drop
  holds the full state as known on D.
* Delta datasets (tax/filings, contact/consents): the ``start`` drop holds the whole history (filings
  filed from ``start - history_years`` up to and including ``start``; all consent events up to
  ``start``); each later drop holds only the events dated D (late filings of old periods included).

The county is a function of ``(seed, enterprises, start, history_years)`` alone: ``end`` only decides
how many drops are written, so a longer run reproduces a shorter run's drops byte for byte. Every
enterprise has its own RNGs derived from ``(seed, index)``; nothing reads the global ``random`` or the
clock. Generation streams: one enterprise at a time, straight into one open writer per file.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from zxt.core.identifiers import ALPHABET, check_char
from zxt.core.settings import PROJECT_ROOT
from zxt.ingest import contracts

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

# --- county tables ---------------------------------------------------------------------------------
# GB/T 4754-2017 class -> (weight %, name words, VAT rate (0 = exempt), sales multiplier, season, export p)
# The brief's "M7240" is not a 4754-2017 class (72xx belongs to section L and 724 has no 7240 leaf):
# L7241 (会计、审计及税务服务) is the nearest real business-services class.
_INDUSTRIES: dict[str, tuple[int, tuple[str, ...], float, float, str, float]] = {
    "C3462": (12, ("风机", "风机制造", "通风设备", "鼓风机"), 0.13, 1.3, "flat", 0.15),
    "C3120": (3, ("钢铁", "特钢", "炼钢"), 0.13, 2.5, "flat", 0.08),
    "C3130": (4, ("钢材", "金属制品", "钢管"), 0.13, 2.0, "flat", 0.08),
    "C3140": (2, ("铁合金", "冶金", "合金材料"), 0.13, 1.8, "flat", 0.08),
    "C3841": (3, ("新能源", "锂电", "电池科技"), 0.13, 1.8, "flat", 0.15),
    "D4416": (2, ("光伏", "新能源", "光伏发电"), 0.13, 0.8, "solar", 0.0),
    "A0141": (9, ("农业", "蔬菜种植", "食用菌", "香菇"), 0.0, 0.5, "veg", 0.02),
    "A0313": (6, ("养殖", "生猪养殖", "牧业"), 0.0, 0.7, "pig", 0.0),
    "C1371": (4, ("食品", "蔬菜加工", "农产品加工"), 0.13, 0.9, "food", 0.10),
    "C1391": (3, ("粉业", "淀粉制品", "食品"), 0.13, 0.8, "food", 0.03),
    "F5121": (12, ("商贸", "粮油", "贸易"), 0.13, 1.0, "flat", 0.01),
    "F5221": (14, ("粮油", "超市", "商行"), 0.13, 0.6, "flat", 0.0),
    "E4720": (8, ("建设工程", "建筑", "建工"), 0.09, 1.5, "build", 0.0),
    "G5430": (7, ("物流", "运输", "货运"), 0.09, 0.7, "flat", 0.0),
    "L7241": (5, ("财税咨询", "企业管理咨询", "代理记账"), 0.06, 0.4, "flat", 0.0),
    "O8010": (6, ("家政服务", "保洁服务", "物业服务"), 0.06, 0.4, "flat", 0.0),
}
_SEASON = {
    "flat": (1.0, 0.8, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.1),
    "solar": (0.7, 0.7, 0.9, 1.0, 1.1, 1.2, 1.3, 1.3, 1.1, 1.0, 0.8, 0.7),
    "veg": (0.6, 0.6, 0.8, 1.0, 1.2, 1.3, 1.3, 1.2, 1.1, 1.0, 0.9, 0.8),
    "pig": (1.3, 1.2, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 1.0, 1.0, 1.1, 1.3),
    "food": (1.4, 1.3, 0.8, 0.8, 0.8, 0.8, 0.9, 0.9, 1.1, 1.0, 1.1, 1.3),
    "build": (0.5, 0.4, 0.9, 1.1, 1.1, 1.1, 1.0, 1.0, 1.1, 1.1, 1.2, 1.5),
}
_AGRI = {"A0141", "A0313"}
_MANUFACTURING = {"C3462", "C3120", "C3130", "C3140", "C3841", "C1371", "C1391", "D4416"}
# entity type mix by industry family: (entity_type, weight)
_ENTITY_MIX = {
    "agri": (("company", 45), ("other", 30), ("individual_business", 20), ("partnership", 5)),
    "manu": (("company", 85), ("branch", 5), ("sole_proprietorship", 6), ("partnership", 4)),
    "rest": (
        ("company", 55),
        ("individual_business", 30),
        ("sole_proprietorship", 8),
        ("partnership", 4),
        ("branch", 3),
        ("other", 2),
    ),
}
# size -> (share %, median monthly sales in yuan, P(general VAT taxpayer), P(key tax source))
_SIZES = {
    "micro": (70, 45_000, 0.20, 0.0),
    "small": (22, 400_000, 0.85, 0.03),
    "medium": (6.5, 4_000_000, 1.0, 0.35),
    "large": (1.5, 25_000_000, 1.0, 0.90),
}
# Base credit level drives filing behaviour and yearly levels. New enterprises are forced to M on top,
# so M starts below its 22 % target and A/B/C/D slightly above theirs.
_BASE_LEVELS = (("A", 8.5), ("B", 68.0), ("M", 14.0), ("C", 3.5), ("D", 6.0))
# P(profile) per base level: punctual / sometimes late / chronic (some periods never filed)
_PROFILES = {
    "A": (1.0, 0.0, 0.0),
    "B": (0.93, 0.07, 0.0),
    "M": (0.92, 0.08, 0.0),
    "C": (0.20, 0.60, 0.20),
    "D": (0.30, 0.35, 0.35),
}
# per-period P(never filed), P(late) by profile
_BEHAVIOUR = {"punctual": (0.0, 0.005), "late": (0.0, 0.18), "chronic": (0.30, 0.30)}
# Year-to-year: P(keep the base level), else one of the neighbours (D is sticky: carry-over rules).
_STAY = {"A": 0.9, "B": 0.92, "M": 0.9, "C": 0.85, "D": 0.95}
_DRIFT = {"A": "B", "B": "AMMC", "M": "B", "C": "BD", "D": "C"}

# Branches (主管税务分局) and the towns they look after, with a weight for where enterprises sit.
_BRANCHES = {
    "14213810100": (("应山街道", 22), ("广水街道", 14), ("十里街道", 12), ("城郊街道", 8)),
    "14213810200": (("武胜关镇", 5), ("杨寨镇", 5), ("陈巷镇", 3), ("长岭镇", 4)),
    "14213810300": (("马坪镇", 5), ("关庙镇", 3), ("余店镇", 3), ("吴店镇", 3)),
    "14213810400": (("郝店镇", 4), ("蔡河镇", 3), ("李店镇", 3), ("太平镇", 2), ("骆店乡", 1)),
}
_TOWNS = [(town, branch, w) for branch, towns in _BRANCHES.items() for town, w in towns]
_ZIHAO_1 = "金华鑫宏盛恒福兴永祥瑞泰隆鸿嘉顺广安新天海正信达利丰荣昌德源凯东发中合聚博创佳汇"
_ZIHAO_2 = "鑫源达丰盛泰瑞宇通诚佳宏昌辉益茂远旺发和力邦晟弘科越锦润星航腾豪峰川磊琪康联盈祥"
_SURNAMES = "陈李王张刘黄胡杨周吴余徐朱何郭罗万程汪彭熊孙肖曾邓蔡魏夏袁谢田付严方谭冯"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华红玲建国志文斌辉海燕凤兰波峰俊林"
_MOBILE_PREFIXES = (
    [str(p) for p in range(130, 140)]
    + ["150", "151", "152", "153", "155", "156", "157", "158", "159", "166", "172", "173"]
    + ["175", "176", "177", "178", "180", "181", "182", "183", "184", "185", "186", "187"]
    + ["188", "189", "191", "193", "195", "196", "197", "198", "199"]
)
_GB11714_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_MA_SPACE = 31**5  # "MA4" + 5 symbols: Hubei-style post-2015 organisation codes
_NUM_SPACE = 10**8  # 8-digit pre-2015 organisation codes


@dataclass(frozen=True)
class DatasetCount:
    files: int
    rows: int  # data rows, header excluded


@dataclass
class SynthSummary:
    out_dir: Path
    start: date
    end: date
    enterprises: int  # generated; an enterprise shows up in snapshots from its registered_date on
    datasets: dict[str, DatasetCount]
    bad_files: list[Path] = field(default_factory=list)  # inject_bad_rows only; not counted above
    passes: int = 1

    @property
    def drops(self) -> int:
        return (self.end - self.start).days + 1


def drop_file(out_dir: Path, dataset: str, day: date, suffix: str = "") -> Path:
    """Contract path of a dataset's file in the drop for business date ``day``."""
    entity = dataset.split("/")[1]
    return out_dir / dataset / day.isoformat() / f"{entity}_{day:%Y%m%d}{suffix}.csv"


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


# --- county-level tables (one per seed) ------------------------------------------------------------
@dataclass(frozen=True)
class _County:
    seed: int
    start: date
    end: date
    history_start: date
    periods_from: date  # periods ending this early can still be filed (late) inside the history
    deadlines: dict[tuple[int, int], date]
    officers: dict[str, tuple[str, ...]]
    accountants: tuple[tuple[str, str], ...]  # (name, mobile): 代账会计 serving several enterprises
    ma_mul: int
    ma_add: int
    num_mul: int
    num_add: int
    month0: int  # month index of the first month that can fall into a generated period


def _county(seed: int, start: date, end: date, history_years: int) -> _County:
    rng = random.Random(seed)
    officers = {b: tuple(f"{b}{k:02d}" for k in range(1, rng.randint(6, 9) + 1)) for b in _BRANCHES}
    accountants = tuple((_person(rng), _mobile(rng)) for _ in range(60))

    def coprime(modulus_primes: tuple[int, ...], space: int) -> int:
        while True:
            a = rng.randrange(space // 7, space - 1)
            if all(a % p for p in modulus_primes):
                return a

    history_start = _add_years(start, -history_years)
    # A late return comes at most 120 days after a deadline that is at most ~25 days after the period.
    periods_from = history_start - timedelta(days=160)
    return _County(
        seed=seed,
        start=start,
        end=end,
        history_start=history_start,
        deadlines=load_deadlines(),
        officers=officers,
        accountants=accountants,
        ma_mul=coprime((31,), _MA_SPACE),
        ma_add=rng.randrange(_MA_SPACE),
        num_mul=coprime((2, 5), _NUM_SPACE),
        num_add=rng.randrange(_NUM_SPACE),
        periods_from=periods_from,
        month0=_month_index(_period_start(periods_from, True)),
    )


def _person(rng: random.Random) -> str:
    given = rng.choice(_GIVEN) + (rng.choice(_GIVEN) if rng.random() < 0.7 else "")
    return rng.choice(_SURNAMES) + given


def _mobile(rng: random.Random) -> str:
    return rng.choice(_MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def _org_code(county: _County, idx: int, modern: bool) -> str:
    """9-character organisation code (GB 11714): 8 body symbols + check digit. Unique per index."""
    if modern:  # affine maps are bijections on their space, so distinct indices never collide
        n = (idx * county.ma_mul + county.ma_add) % _MA_SPACE
        tail = ""
        for _ in range(5):
            n, r = divmod(n, 31)
            tail = ALPHABET[r] + tail
        body = "MA4" + tail
    else:
        body = f"{(idx * county.num_mul + county.num_add) % _NUM_SPACE:08d}"
    total = sum(int(ch, 36) * w for ch, w in zip(body, _GB11714_WEIGHTS, strict=True))
    c = 11 - total % 11
    return body + ("X" if c == 10 else "0" if c == 11 else str(c))


# --- one enterprise --------------------------------------------------------------------------------
@dataclass
class _Obligation:
    tax_type: str
    period_type: str
    valid_from: date
    valid_to: date | None
    recorded: date  # the registry shows the row from this date
    ended_recorded: date | None  # ... and its valid_to from this date


@dataclass
class _Enterprise:
    idx: int
    uscc: str
    name: str
    registered: date
    confirmed: date
    first_declaration: date | None
    status: str
    status_since: date | None
    entity_type: str
    industry: str
    size: str
    general_since: date | None  # registry shows "general" from this date (None: small-scale throughout)
    branch: str
    officer: str
    contact_name: str
    mobile: str
    exporter: bool
    key_source: bool
    base_level: str
    profile: str
    obligations: list[_Obligation] = field(default_factory=list)
    filings: list[tuple[date, list[str]]] = field(default_factory=list)
    ratings: list[tuple[date, list[str]]] = field(default_factory=list)
    auths: list[tuple[date, date | None, list[str]]] = field(default_factory=list)
    consents: list[tuple[date, list[str]]] = field(default_factory=list)


def _enterprise(county: _County, idx: int) -> _Enterprise:
    seed, start = county.seed, county.start
    rng = random.Random(f"{seed}:{idx}")
    # Registration: 12 years before start, ~8 % in the last year, and a trickle of new ones after start.
    u = rng.random()
    if u < 0.005:
        registered = start + timedelta(days=rng.randint(1, 60))
    elif u < 0.085:
        registered = start - timedelta(days=rng.randint(0, 364))
    else:
        registered = start - timedelta(days=rng.randint(365, 12 * 365))
    confirmed = registered + timedelta(days=rng.randint(1, 10))

    industry = _weighted(rng, [(k, v[0]) for k, v in _INDUSTRIES.items()])
    family = "agri" if industry in _AGRI else "manu" if industry in _MANUFACTURING else "rest"
    entity_type = _weighted(rng, _ENTITY_MIX[family])
    size = _weighted(rng, [(k, v[0]) for k, v in _SIZES.items()])
    if entity_type in ("individual_business", "other") and size != "micro":
        size = "micro" if rng.random() < 0.8 else "small"
    _, _, p_general, p_key = _SIZES[size]
    general = entity_type != "individual_business" and rng.random() < p_general
    key_source = rng.random() < p_key
    exporter = entity_type in ("company", "branch") and rng.random() < _INDUSTRIES[industry][5] * 1.4

    base_level = _weighted(rng, _BASE_LEVELS)
    p = _PROFILES[base_level]
    profile = _weighted(rng, (("punctual", p[0]), ("late", p[1]), ("chronic", p[2])))

    town, branch = _town(rng)
    officer = rng.choice(county.officers[branch])
    word = rng.choice(_INDUSTRIES[industry][1])
    zihao = rng.choice(_ZIHAO_1) + rng.choice(_ZIHAO_2)
    owner = _person(rng)
    name, pos12 = _name(rng, entity_type, industry, word, zihao, town, owner, size)

    # Contact: own mobile mostly; a few accountants serve many small firms; ~5 % have none on file.
    u = rng.random()
    if u < 0.05:
        contact_name, mobile = (owner if rng.random() < 0.6 else ""), ""
    elif u < 0.09 and size in ("micro", "small"):
        contact_name, mobile = rng.choice(county.accountants)
    else:
        contact_name = (
            owner if entity_type in ("individual_business", "sole_proprietorship") else _person(rng)
        )
        mobile = _mobile(rng)

    uscc_code = pos12 + DIVISION + _org_code(county, idx, registered.year >= 2016)
    uscc_code += check_char(uscc_code)

    # Status changes (known from status_since): abnormal 2 %, suspended 1 %, deregistered 2 %.
    u = rng.random()
    status = "abnormal" if u < 0.02 else "suspended" if u < 0.03 else "deregistered" if u < 0.05 else "normal"
    since_day = rng.randint(-3 * 365, 30)
    status_since: date | None = None
    if status != "normal":
        status_since = max(start + timedelta(days=since_day), registered + timedelta(days=200))
        if status_since > start + timedelta(days=30):
            status, status_since = "normal", None

    e = _Enterprise(
        idx=idx,
        uscc=uscc_code,
        name=name,
        registered=registered,
        confirmed=confirmed,
        first_declaration=None,
        status=status,
        status_since=status_since,
        entity_type=entity_type,
        industry=industry,
        size=size,
        general_since=None,
        branch=branch,
        officer=officer,
        contact_name=contact_name,
        mobile=mobile,
        exporter=exporter,
        key_source=key_source,
        base_level=base_level,
        profile=profile,
    )
    _obligations(county, e, rng, general)
    first_synthetic = _first_declaration_guess(county, e, rng)
    _filings(county, e)
    # The first return is in the generated data only if every earliest obligation's first period is.
    earliest = min(ob.valid_from for ob in e.obligations)
    first_in_range = all(
        ob.valid_from >= _period_start(county.periods_from, ob.period_type == "quarter")
        for ob in e.obligations
        if ob.valid_from == earliest
    )
    generated = [fd for fd, _ in e.filings]
    e.first_declaration = (min(generated) if generated else None) if first_in_range else first_synthetic
    _ratings(county, e)
    _authorisations(county, e)
    _consents(county, e)
    return e


def _town(rng: random.Random) -> tuple[str, str]:
    u = rng.random() * sum(w for _, _, w in _TOWNS)
    for town, branch, w in _TOWNS:
        u -= w
        if u < 0:
            return town, branch
    return _TOWNS[-1][0], _TOWNS[-1][1]


def _name(
    rng: random.Random,
    entity_type: str,
    industry: str,
    word: str,
    zihao: str,
    town: str,
    owner: str,
    size: str,
) -> tuple[str, str]:
    """Enterprise name and USCC positions 1-2 (registration authority, entity category)."""
    if entity_type == "company":
        suffix = "股份有限公司" if size == "large" and rng.random() < 0.5 else "有限公司"
        return f"广水市{zihao}{word}{suffix}", "91"
    if entity_type == "branch":
        return f"湖北{zihao}{word}有限公司广水分公司", "91"
    if entity_type == "partnership":
        return f"广水市{zihao}{word}合伙企业（有限合伙）", "91"
    if entity_type == "sole_proprietorship":
        kind = "厂" if industry in _MANUFACTURING else "经营部"
        return f"广水市{zihao}{word}{kind}", "91"
    if entity_type == "individual_business":
        if industry in _AGRI:
            shop = "养殖场" if industry == "A0313" else "种植基地"
        else:
            shop = "" if word[-1] in "行市" else "店" if industry == "F5221" else "部"
        return f"广水市{town}{owner}{word}{shop}", "92"
    if industry in _AGRI:  # farmers' cooperatives are registered by market regulation: 93
        return f"广水市{zihao}{word}专业合作社", "93"
    return f"广水市{zihao}{word}服务中心", "52"  # 民办非企业单位, registered by civil affairs


def _obligations(county: _County, e: _Enterprise, rng: random.Random, general: bool) -> None:
    start = county.start
    vat_from = e.registered.replace(day=1)
    # Deregistered: final returns up to a quarter end, deregistration recorded 10-40 days later.
    dereg_to: date | None = None
    if e.status == "deregistered" and e.status_since is not None:
        q = _period_start(e.status_since - timedelta(days=10), True) - timedelta(days=1)
        if q >= _period_end(vat_from, True):
            dereg_to = q
            e.status_since = q + timedelta(days=rng.randint(10, 40))
        else:
            e.status, e.status_since = "normal", None

    def add(tax: str, period: str, frm: date, to: date | None, recorded: date, ended: date | None) -> None:
        if dereg_to is not None and (to is None or to > dereg_to):
            to, ended = dereg_to, e.status_since
        e.obligations.append(_Obligation(tax, period, frm, to, recorded, ended))

    convert = general and rng.random() < 0.35 and e.registered <= start - timedelta(days=730)
    if convert:  # registered small-scale, became general at a quarter boundary
        lo = _add_years(e.registered, 1)
        day = lo + timedelta(days=rng.randint(0, max(0, (start + timedelta(days=60) - lo).days)))
        q_end = _period_end(_period_start(day, True), True)
        if dereg_to is not None and q_end >= dereg_to:
            convert = False
        else:
            recorded = q_end - timedelta(days=rng.randint(5, 20))
            add("VAT", "quarter", vat_from, q_end, e.confirmed, recorded)
            add("VAT", "month", q_end + timedelta(days=1), None, recorded, None)
            e.general_since = recorded
    if not convert:
        if general:
            add("VAT", "month", vat_from, None, e.confirmed, None)
            e.general_since = e.registered
        else:
            add("VAT", "quarter", vat_from, None, e.confirmed, None)
    if e.entity_type == "company":
        add("CIT", "quarter", vat_from, None, e.confirmed, None)


def _first_declaration_guess(county: _County, e: _Enterprise, rng: random.Random) -> date:
    """First return of an enterprise older than the history: on time, in the first filing month."""
    ob = min(e.obligations, key=lambda o: (o.valid_from, o.period_type))
    pe = _period_end(ob.valid_from, ob.period_type == "quarter")
    fy, fm = (pe.year + 1, 1) if pe.month == 12 else (pe.year, pe.month + 1)
    deadline = filing_deadline(fy, fm, county.deadlines)
    return max(date(fy, fm, rng.randint(1, deadline.day)), e.confirmed)


def _monthly_sales(county: _County, e: _Enterprise) -> list[float]:
    """Sales per month from county.month0 to the end month; zero before registration."""
    rng = random.Random(f"{county.seed}:{e.idx}:sales")
    _, _, _, mult, season_key, _ = _INDUSTRIES[e.industry]
    base = _SIZES[e.size][1] * mult * rng.lognormvariate(0, 0.6)
    if e.general_since is None:
        base = min(base, 380_000.0)  # small-scale taxpayers stay under 5M yuan a year
    p_zero = 0.45 if e.base_level == "M" else 0.08 if e.entity_type == "individual_business" else 0.03
    season = _SEASON[season_key]
    reg_month = _month_index(e.registered)
    out: list[float] = []
    for mi in range(county.month0, _month_index(county.end) + 1):
        value = base * season[mi % 12] * rng.lognormvariate(0, 0.3)
        if rng.random() < p_zero or mi < reg_month:
            value = 0.0
        out.append(value)
    return out


def _filings(county: _County, e: _Enterprise) -> None:
    sales = _monthly_sales(county, e)
    rate = _INDUSTRIES[e.industry][2]
    p_miss, p_late = _BEHAVIOUR[e.profile]
    # Abnormal households stopped filing months before the bureau recognised them as such.
    stop = None
    if e.status == "abnormal" and e.status_since is not None:
        stop = e.status_since - timedelta(days=60 + e.idx % 90)
    suspended = e.status_since if e.status == "suspended" else None
    small_profit = e.size in ("micro", "small")
    for ob in e.obligations:
        rng = random.Random(f"{county.seed}:{e.idx}:{ob.tax_type}:{ob.valid_from.isoformat()}")
        quarterly = ob.period_type == "quarter"
        ps = max(_period_start(max(ob.valid_from, county.periods_from), quarterly), ob.valid_from)
        while ob.valid_to is None or ps <= ob.valid_to:
            pe = _period_end(ps, quarterly)
            if pe >= county.end:  # its return can only be filed after `end`
                break
            fy, fm = (pe.year + 1, 1) if pe.month == 12 else (pe.year, pe.month + 1)
            deadline = filing_deadline(fy, fm, county.deadlines)
            cur, ps = ps, pe + timedelta(days=1)
            u = rng.random()
            if u < p_miss or (stop is not None and deadline > stop):
                continue
            if u < p_miss + p_late:
                v = rng.random()
                k = (
                    rng.randint(1, 10)
                    if v < 0.6
                    else rng.randint(11, 45)
                    if v < 0.9
                    else rng.randint(46, 120)
                )
                filed = deadline + timedelta(days=k)
            else:
                # On time, bunched towards the deadline: the deadline day itself, its last week
                # (which includes the 16th..20th+ of holiday-extended months), or any day.
                v = rng.random()
                dl = deadline.day
                day = dl if v < 0.08 else rng.randint(max(1, dl - 6), dl) if v < 0.45 else rng.randint(1, dl)
                filed = date(fy, fm, day)
            filed = max(filed, e.confirmed)
            months = sales[_month_index(cur) - county.month0 : _month_index(pe) - county.month0 + 1]
            amount = 0.0 if suspended is not None and cur >= suspended else sum(months)
            if ob.tax_type == "VAT":
                if rate == 0.0:  # self-produced farm products are VAT-exempt
                    payable = 0.0
                elif e.general_since is not None and ob.period_type == "month":
                    # input VAT usually covers most of output VAT; some months carry a retained credit
                    payable = 0.0 if rng.random() < 0.07 else amount * rate * rng.uniform(0.08, 0.35)
                else:  # small-scale: 1 % levy, exempt up to 300,000 yuan a quarter
                    payable = 0.0 if amount <= 300_000 else amount * 0.01
            else:  # CIT quarterly prepayment on profit; farming is exempt
                profit = amount * rng.uniform(-0.04, 0.12)
                payable = 0.0 if e.industry in _AGRI else max(0.0, profit) * (0.05 if small_profit else 0.25)
            payable = round(payable, 2)
            w = rng.random()
            paid = payable if w < 0.95 else round(payable * rng.uniform(0.3, 0.9), 2) if w < 0.98 else 0.0
            row = [e.uscc, ob.tax_type, cur.isoformat(), pe.isoformat(), filed.isoformat()]
            row += [_money(amount), _money(payable), _money(paid)]
            e.filings.append((filed, row))


def _ratings(county: _County, e: _Enterprise) -> None:
    rng = random.Random(f"{county.seed}:{e.idx}:rating")
    first = max(e.registered.year + 1, county.history_start.year - 1)
    for year in range(first, county.end.year):
        published = date(year + 1, *RATING_PUBLISHED)
        if e.status == "deregistered" and e.status_since is not None and e.status_since <= date(year, 12, 31):
            break
        u = rng.random()
        if e.status == "abnormal" and e.status_since is not None and e.status_since.year <= year:
            level = "D"  # recognised as 非正常户: direct judgement
        elif e.registered.year == year - 1 and u < 0.85:
            level = "M"  # first evaluation year of a newly established enterprise
        elif rng.random() < _STAY[e.base_level]:
            level = e.base_level
        else:
            level = rng.choice(_DRIFT[e.base_level])
        lo, hi = {"A": (90, 100), "B": (70, 89.9), "M": (70, 100), "C": (40, 69.9), "D": (0, 39.9)}[level]
        score = 100.0 if level == "A" and rng.random() < 0.3 else round(rng.uniform(lo, hi), 1)
        e.ratings.append((published, [e.uscc, str(year), f"{score:.1f}", level, published.isoformat()]))


def _authorisations(county: _County, e: _Enterprise) -> None:
    rng = random.Random(f"{county.seed}:{e.idx}:bank")
    factor = {"A": 1.3, "B": 1.1, "M": 0.8, "C": 0.3, "D": 0.2}[e.base_level]
    for bank, p in (("GSRCB", 0.135), ("HBBANK", 0.056)):  # ~12 % / ~5 % after the level factor
        if rng.random() >= p * factor:
            continue
        authorised = county.start + timedelta(days=rng.randint(-730, 30))
        authorised = max(authorised, e.confirmed + timedelta(days=30))
        n = 1
        while authorised <= county.start + timedelta(days=30):
            expires = _add_years(authorised, 1)
            revoked = None
            if rng.random() < 0.05:
                revoked = authorised + timedelta(days=rng.randint(1, (expires - authorised).days - 1))
            scope = FULL_SCOPE if rng.random() < 0.85 else "basic|credit_level"
            auth_id = f"AUTH-{e.uscc}-{bank}-{n}"
            row = [auth_id, e.uscc, bank, authorised.isoformat(), expires.isoformat(), "", scope]
            e.auths.append((authorised, revoked, row))
            # Some renew after expiry: a new authorisation with the next sequence number.
            if revoked is not None or rng.random() >= 0.5:
                break
            authorised, n = expires + timedelta(days=rng.randint(0, 20)), n + 1


def _consents(county: _County, e: _Enterprise) -> None:
    if not e.mobile:
        return
    rng = random.Random(f"{county.seed}:{e.idx}:consent")
    if rng.random() >= 0.9:  # most contacts opted in to SMS when their tax information was confirmed
        return
    events: list[tuple[date, str, str]] = []
    opt_in = e.confirmed + timedelta(days=rng.randint(0, 30))
    events.append((opt_in, "sms", "opt_in"))
    if rng.random() < 0.25:
        events.append((opt_in + timedelta(days=rng.randint(0, 400)), "wechat", "opt_in"))
    if rng.random() < 0.033 and opt_in < county.start:
        events.append(
            (opt_in + timedelta(days=rng.randint(1, (county.start - opt_in).days)), "sms", "opt_out")
        )
    else:  # a few new opt-outs per county day after start (~2.5e-4 per contact and day)
        wait = int(rng.expovariate(2.5e-4)) + 1
        events.append((max(county.start, opt_in) + timedelta(days=wait), "sms", "opt_out"))
    events.sort(key=lambda ev: ev[0])
    for n, (day, channel, kind) in enumerate(events, 1):
        e.consents.append((day, [f"CE-{e.uscc}-{n:02d}", e.uscc, e.mobile, channel, kind, day.isoformat()]))


# --- snapshot rows as known on a day ---------------------------------------------------------------
def _taxpayer_row(e: _Enterprise, day: date) -> list[str]:
    known = e.status_since is not None and e.status_since <= day
    general = e.general_since is not None and e.general_since <= day
    first = e.first_declaration
    return [
        e.uscc,
        e.name,
        e.registered.isoformat(),
        e.confirmed.isoformat() if e.confirmed <= day else "",
        first.isoformat() if first is not None and first <= day else "",
        e.status if known else "normal",
        e.entity_type,
        e.industry,
        "general" if general else "small_scale",
        e.branch,
        e.officer,
        e.contact_name,
        e.mobile,
        "1" if e.exporter else "0",
        "1" if e.key_source else "0",
    ]


def _obligation_rows(e: _Enterprise, day: date) -> Iterator[list[str]]:
    for ob in e.obligations:
        if ob.recorded > day:
            continue
        ended = ob.valid_to is not None and ob.ended_recorded is not None and ob.ended_recorded <= day
        valid_to = ob.valid_to.isoformat() if ended and ob.valid_to is not None else ""
        yield [e.uscc, ob.tax_type, ob.period_type, ob.valid_from.isoformat(), valid_to]


# --- writing ---------------------------------------------------------------------------------------
class _Writers:
    """One open csv writer per (dataset, drop) of the current pass, counting rows."""

    def __init__(self, stack: ExitStack, out_dir: Path, days: list[date]) -> None:
        self.writers: dict[tuple[str, date], Any] = {}
        self.rows: dict[str, int] = dict.fromkeys(DATASETS, 0)
        for name in DATASETS:
            ds = contracts.get(name)
            for day in days:
                path = drop_file(out_dir, name, day)
                path.parent.mkdir(parents=True, exist_ok=True)
                fh = stack.enter_context(path.open("w", encoding=ds.encoding, newline="", buffering=1 << 16))
                w = csv.writer(fh, lineterminator="\n")
                w.writerow(ds.column_names)
                self.writers[(name, day)] = w

    def write(self, name: str, day: date, row: list[str]) -> None:
        self.writers[(name, day)].writerow(row)
        self.rows[name] += 1


def generate(
    out_dir: Path,
    start: date,
    end: date,
    enterprises: int = 15000,
    seed: int = 42,
    history_years: int = 3,
    progress: Callable[[int], None] | None = None,
    inject_bad_rows: bool = False,
) -> SynthSummary:
    """Write a synthetic county landing zone for every business date in [start, end].

    ``progress`` is called with the number of enterprises generated so far (every 100 and at the
    end of each pass); runs longer than ``MAX_DROPS_PER_PASS`` drops take several passes over the
    county, and the count keeps rising across them up to ``enterprises * passes``.

    With ``inject_bad_rows`` the LAST drop (``end``) also gets three extra files that break the
    contract on purpose (the regular files stay valid):

    * ``tax/taxpayers/<end>/taxpayers_<YYYYMMDD>_bad.csv`` (GB18030, contract header, 3 data rows with
      USCCs that occur nowhere else): data rows 1 and 2 have a wrong 18th (check) character, so
      ``zxt.uscc.is_valid`` is False; data row 3 has a valid USCC but ``contact_mobile`` =
      ``12345678901`` (second digit 2: not ``1[3-9]\\d{9}``). Every other cell is valid.
    * ``tax/filings/<end>/filings_<YYYYMMDD>_utf8.csv``: encoded UTF-8 although the contract says
      gb18030; contract header, 3 data rows, tax_type ``STAMP`` (no STAMP rows exist elsewhere, so no
      key clashes) for a real enterprise. Rows 1 and 3 are ASCII and valid; data row 2 has
      ``tax_payable`` = ``€35.00`` - strict GB18030 decoding of the file raises UnicodeDecodeError
      (the UTF-8 bytes of € are no GB18030 sequence), and the cell is no numeric either.
    * ``contact/consents/<end>/consents_<YYYYMMDD>_no_channel.csv`` (UTF-8): header is the contract
      columns without ``channel``; 2 otherwise valid opt_out rows (event_id ``CE-BAD-<YYYYMMDD>-1``
      and ``-2``), which the contract rejects as a whole file for the missing required column.
    """
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    if not 1 <= enterprises <= _MA_SPACE - 3 or history_years < 0:
        raise ValueError(f"need 1 <= enterprises <= {_MA_SPACE - 3:,} and history_years >= 0")
    county = _county(seed, start, end, history_years)
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    windows = [days[i : i + MAX_DROPS_PER_PASS] for i in range(0, len(days), MAX_DROPS_PER_PASS)]
    rows = dict.fromkeys(DATASETS, 0)
    done = 0
    reference: _Enterprise | None = None  # a live enterprise with a mobile, for the bad files
    for window in windows:
        window_set = set(window)
        with ExitStack() as stack:
            out = _Writers(stack, out_dir, window)
            for idx in range(enterprises):
                e = _enterprise(county, idx)
                _write_enterprise(county, e, window, window_set, out)
                if reference is None and e.mobile and e.registered <= start and e.status == "normal":
                    reference = e
                done += 1
                if progress is not None and (done % 100 == 0 or idx == enterprises - 1):
                    progress(done)
            for name, n in out.rows.items():
                rows[name] += n
    summary = SynthSummary(
        out_dir=out_dir,
        start=start,
        end=end,
        enterprises=enterprises,
        datasets={name: DatasetCount(files=len(days), rows=rows[name]) for name in DATASETS},
        passes=len(windows),
    )
    if inject_bad_rows:
        summary.bad_files = _write_bad_files(county, out_dir, enterprises, reference)
    return summary


def _write_enterprise(
    county: _County, e: _Enterprise, window: list[date], window_set: set[date], out: _Writers
) -> None:
    start = county.start
    for day in window:
        if e.registered > day:
            continue
        out.write("tax/taxpayers", day, _taxpayer_row(e, day))
        for row in _obligation_rows(e, day):
            out.write("tax/obligations", day, row)
        for published, row in e.ratings:
            if published <= day:
                out.write("credit/ratings", day, row)
        for authorised, revoked, row in e.auths:
            if authorised <= day:
                if revoked is not None and revoked <= day:
                    row = [*row[:5], revoked.isoformat(), row[6]]
                out.write("bank/authorisations", day, row)
    # Delta datasets: history up to start goes to the start drop, later events to their own day.
    for filed, row in e.filings:
        if filed <= start:
            if filed >= county.history_start and start in window_set:
                out.write("tax/filings", start, row)
        elif filed in window_set:
            out.write("tax/filings", filed, row)
    for day, row in e.consents:
        if day <= start:
            if start in window_set:
                out.write("contact/consents", start, row)
        elif day in window_set:
            out.write("contact/consents", day, row)


def _write_bad_files(county: _County, out_dir: Path, enterprises: int, ref: _Enterprise | None) -> list[Path]:
    last = county.end
    stamp = f"{last:%Y%m%d}"
    paths: list[Path] = []

    # tax/taxpayers: indices beyond the county give USCCs that clash with no real row.
    ds = contracts.get("tax/taxpayers")
    bad_rows = []
    for k in range(3):
        e = _enterprise(county, enterprises + k)
        row = _taxpayer_row(e, last)
        row[2] = min(e.registered, last).isoformat()
        if k < 2:  # wrong check character: shift it by one place in the alphabet
            row[0] = e.uscc[:17] + ALPHABET[(ALPHABET.index(e.uscc[17]) + 1) % len(ALPHABET)]
            row[12] = row[12] or "13912345678"
        else:
            row[12] = "12345678901"
            row[11] = row[11] or "张伟"
        bad_rows.append(row)
    paths.append(
        _write_file(drop_file(out_dir, "tax/taxpayers", last, "_bad"), ds.encoding, ds.column_names, bad_rows)
    )

    # tax/filings in UTF-8 with a euro sign in a numeric cell.
    ds = contracts.get("tax/filings")
    uscc_code = ref.uscc if ref is not None else _enterprise(county, 0).uscc
    q_start = _period_start(last, True)
    prev_end = q_start - timedelta(days=1)
    prev_start = _period_start(prev_end, True)
    older_end = prev_start - timedelta(days=1)
    older_start = _period_start(older_end, True)
    oldest_end = older_start - timedelta(days=1)
    periods = [
        (prev_start, prev_end),
        (older_start, older_end),
        (_period_start(oldest_end, True), oldest_end),
    ]
    payable = ["35.00", "€35.00", "12.50"]  # data row 2: the euro sign (E2 82 AC) is no GB18030 sequence
    rows = [
        [uscc_code, "STAMP", ps.isoformat(), pe.isoformat(), last.isoformat(), "", tax, tax.lstrip("€")]
        for (ps, pe), tax in zip(periods, payable, strict=True)
    ]
    paths.append(
        _write_file(drop_file(out_dir, "tax/filings", last, "_utf8"), "utf-8", ds.column_names, rows)
    )

    # contact/consents without the channel column.
    ds = contracts.get("contact/consents")
    mobile = ref.mobile if ref is not None else "13900000000"
    cols = [c for c in ds.column_names if c != "channel"]
    rows = [[f"CE-BAD-{stamp}-{n}", uscc_code, mobile, "opt_out", last.isoformat()] for n in (1, 2)]
    paths.append(
        _write_file(drop_file(out_dir, "contact/consents", last, "_no_channel"), ds.encoding, cols, rows)
    )
    return paths


def _write_file(path: Path, encoding: str, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return path
