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


def test_sql_check_digit_agrees(engine):
    import sqlalchemy as sa

    with engine.connect() as conn:
        for code in PUBLISHED:
            assert conn.execute(sa.text("select zxt.uscc_valid(:c)"), {"c": code}).scalar() is True
            wrong = code[:17] + ("0" if code[17] != "0" else "1")
            assert conn.execute(sa.text("select zxt.uscc_valid(:c)"), {"c": wrong}).scalar() is False
