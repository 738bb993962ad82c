"""Identifiers every layer checks: the Unified Social Credit Code (统一社会信用代码, GB 32100-2015) and
mainland mobile numbers. The one definition of each: the SQL functions ``zxt.uscc_valid`` and
``zxt.is_mobile`` (zxt.warehouse.sql_functions), the gates and the simulators are generated from here."""

from __future__ import annotations

import re

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 symbols: no I, O, Z, S, V
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_SHAPE = re.compile(rf"^[{ALPHABET}]{{18}}$")
# Written so that Python, PostgreSQL (POSIX ARE) and GX read it alike.
MOBILE_PATTERN = "^1[3-9][0-9]{9}$"
MOBILE_RE = re.compile(MOBILE_PATTERN)


def check_char(first17: str) -> str:
    """The 18th character for the first 17 characters of a code."""
    if len(first17) != 17 or any(ch not in ALPHABET for ch in first17):
        raise ValueError("need 17 characters from the GB 32100 alphabet")
    total = sum(ALPHABET.index(ch) * w for ch, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def is_valid(code: str) -> bool:
    return bool(_SHAPE.match(code or "")) and check_char(code[:17]) == code[17]


def make(first17: str) -> str:
    return first17 + check_char(first17)


def is_mobile(value: str) -> bool:
    return bool(MOBILE_RE.match(value or ""))


# Taxpayers whose registered name may be a natural person's name: an individual business (个体工商户)
# without a trade name is registered under its operator's name, and a sole proprietorship (个人独资企业)
# is often known by its owner's. GB 32100 codes individual businesses as category "92".
PERSON_NAMED_ENTITY_TYPES = ("individual_business", "sole_proprietorship")
INDIVIDUAL_BUSINESS_USCC_PREFIX = "92"


def name_is_personal(entity_type: str | None, uscc: str | None) -> bool:
    """Whether a taxpayer's name must be treated as a person's name (masked where officers read).

    Either signal suffices; with neither known the name is treated as personal (masked)."""
    if entity_type is None and uscc is None:
        return True
    return entity_type in PERSON_NAMED_ENTITY_TYPES or (uscc or "").startswith(
        INDIVIDUAL_BUSINESS_USCC_PREFIX
    )
