"""The county's make-up: industries, seasons, sizes, levels, behaviour, branches, names."""

from __future__ import annotations

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
_BASE_LEVELS = (("A", 10.0), ("B", 66.5), ("M", 14.0), ("C", 3.5), ("D", 6.0))
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
