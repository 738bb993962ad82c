"""GB 32100-2015 check characters, against codes published by real enterprises."""

import pytest

from zxt.core import identifiers as uscc

# Published on the enterprises' own filings / the national enterprise credit system.
PUBLISHED = [
    "914403001922038216",  # 华为技术有限公司
    "91440300708461136T",  # 深圳市腾讯计算机系统有限公司
    "9144030071526726XG",  # 腾讯科技（深圳）有限公司
]


@pytest.mark.parametrize("code", PUBLISHED)
def test_published_codes_are_valid(code):
    assert uscc.is_valid(code)
    assert uscc.check_char(code[:17]) == code[17]


@pytest.mark.parametrize("code", PUBLISHED)
def test_any_other_check_character_is_invalid(code):
    for ch in uscc.ALPHABET:
        if ch != code[17]:
            assert not uscc.is_valid(code[:17] + ch)


def test_hand_computed_check_character():
    # 91421381MA4F0A0B1: indices 9,1,4,2,1,3,8,1,21,10,4,15,0,10,0,11,1 times the weights
    # 1,3,9,27,19,26,16,17,20,29,25,13,8,24,10,30,28 sum to 1947; 1947 mod 31 = 25;
    # (31 - 25) mod 31 = 6 -> "6".
    assert uscc.check_char("91421381MA4F0A0B1") == "6"


@pytest.mark.parametrize(
    "bad",
    ["", "91440300708461136", "91440300708461136TT", "91440300708461136I", "9144030070846113OT", "abc"],
)
def test_shape_errors_are_invalid(bad):
    assert not uscc.is_valid(bad)


def test_mobile_numbers():
    assert uscc.is_mobile("13812345678")
    assert uscc.is_mobile("19912345678")
    assert not uscc.is_mobile("12812345678")
    assert not uscc.is_mobile("1381234567")
    assert not uscc.is_mobile("+8613812345678")


@pytest.fixture
def migrated(engine):
    from zxt.warehouse import migrate

    migrate.ensure_current(engine)
    return engine


def test_sql_check_digit_agrees(migrated):
    """zxt.uscc_valid is generated from the same alphabet and weights: both agree on every code."""
    import random

    import sqlalchemy as sa

    rng = random.Random(7)
    codes = list(PUBLISHED)
    for _ in range(2000):
        body = "".join(rng.choice(uscc.ALPHABET) for _ in range(17))
        codes.append(body + uscc.check_char(body))  # valid
        codes.append(body + rng.choice(uscc.ALPHABET))  # valid about 1 in 31
    codes += ["", "9144030070846113OT", "abc", "91440300708461136t"]
    with migrated.connect() as conn:
        got = conn.execute(
            sa.text("select c, zxt.uscc_valid(c) from unnest(cast(:codes as text[])) as c"), {"codes": codes}
        ).all()
    assert len(got) == len(codes)
    assert all(sql_says is uscc.is_valid(code) for code, sql_says in got), [
        c for c, s in got if s is not uscc.is_valid(c)
    ][:5]


def test_sql_mobile_check_agrees(migrated):
    import sqlalchemy as sa

    numbers = [
        "13812345678",
        "19912345678",
        "12812345678",
        "1381234567",
        "+8613812345678",
        "138123456789",
        "",
    ]
    with migrated.connect() as conn:
        for n in numbers:
            assert conn.execute(sa.text("select zxt.is_mobile(:n)"), {"n": n}).scalar() is uscc.is_mobile(
                n
            ), n
