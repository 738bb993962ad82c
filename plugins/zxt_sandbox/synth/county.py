"""County-level tables of one seed and identity helpers (people, mobiles, organisation codes)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from zxt.core.identifiers import ALPHABET
from zxt_sandbox.synth.common import _add_years, _month_index, _period_start, load_deadlines
from zxt_sandbox.synth.tables import (
    _BRANCHES,
    _GB11714_WEIGHTS,
    _GIVEN,
    _MA_SPACE,
    _MOBILE_PREFIXES,
    _NUM_SPACE,
    _SURNAMES,
)


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


_OPENID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _openid(seed: int, idx: int) -> str:
    """About a third of contacts follow the bureau's official account: a 28-character openid."""
    rng = random.Random(f"{seed}:{idx}:wechat")  # its own stream: the rest of the county is unchanged
    if rng.random() >= 0.35:
        return ""
    return "o" + "".join(rng.choice(_OPENID_ALPHABET) for _ in range(27))


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
