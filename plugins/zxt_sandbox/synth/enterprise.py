"""One enterprise and everything it does over the years: obligations, filings, ratings, authorisations, consents."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

from zxt.core.identifiers import check_char
from zxt_sandbox.synth.common import (
    DIVISION,
    FULL_SCOPE,
    RATING_PUBLISHED,
    _add_years,
    _money,
    _month_index,
    _period_end,
    _period_start,
    _weighted,
    filing_deadline,
)
from zxt_sandbox.synth.county import _County, _mobile, _openid, _org_code, _person
from zxt_sandbox.synth.tables import (
    _AGRI,
    _BASE_LEVELS,
    _BEHAVIOUR,
    _DRIFT,
    _ENTITY_MIX,
    _INDUSTRIES,
    _MANUFACTURING,
    _PROFILES,
    _SEASON,
    _SIZES,
    _STAY,
    _TOWNS,
    _ZIHAO_1,
    _ZIHAO_2,
)


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
    openid: str
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
        openid=_openid(seed, idx) if mobile else "",
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
    # Employers withhold their staff's individual income tax monthly (indicator 010102, counted
    # apart from the tax returns of 010101). Own generator, so the draws above stay as they were.
    wh = random.Random(f"{county.seed}:{e.idx}:withholding")
    p_wh = {"company": 0.85, "branch": 0.9, "partnership": 0.5, "sole_proprietorship": 0.4}.get(
        e.entity_type, 0.0
    )
    if wh.random() < p_wh:
        add("IIT_WH", "month", vat_from, None, e.confirmed, None)


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
            elif ob.tax_type == "IIT_WH":  # withheld on wages: a few per mille of sales, often nil
                payable = 0.0 if rng.random() < 0.4 else amount * rng.uniform(0.002, 0.01)
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
        e.openid,
    ]


def _obligation_rows(e: _Enterprise, day: date) -> Iterator[list[str]]:
    for ob in e.obligations:
        if ob.recorded > day:
            continue
        ended = ob.valid_to is not None and ob.ended_recorded is not None and ob.ended_recorded <= day
        valid_to = ob.valid_to.isoformat() if ended and ob.valid_to is not None else ""
        yield [e.uscc, ob.tax_type, ob.period_type, ob.valid_from.isoformat(), valid_to]
