"""Set-wise contract checks in SQL over ``_in``: good rows to ``raw``, the rest to ``_rejects``.

Each failed check is ``rule|column|message``; a row's first failure names its rule, column and raw
value in raw.rejects, the message lists them all. Schema drift: a column the contract does not know
is kept in ``raw.<table>._extra`` and reported; a missing required column, or a required column
whose values nearly all fail their type (retyped upstream), refuses the whole file.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import date

import psycopg

from zxt.ingest.contracts import DEFAULT_DATE_MAX, DEFAULT_DATE_MIN, Column, Dataset, date_bound
from zxt.ingest.refusal import FileRefused
from zxt.warehouse import raw_tables

log = logging.getLogger(__name__)

# A required column is "retyped" when at least this share of its non-empty values fail their type,
# over at least RETYPED_MIN_ROWS rows (fewer rows are judged row by row).
RETYPED_SHARE = 0.9
RETYPED_MIN_ROWS = 10


@dataclass
class Validated:
    loaded: int
    rejected: int
    drift: dict = field(default_factory=dict)


def _q(text: str) -> str:
    return text.replace("'", "''")


def _check_sql(col: Column, ref: str, drop_date: date) -> list[str]:
    v = f"nullif(btrim({ref}), '')"
    out: list[str] = []

    def fail(rule: str, cond: str, msg: str) -> None:
        out.append(f"case when {cond} then '{rule}|{col.name}|{_q(msg)}' end")

    if col.required:
        fail("required", f"{v} is null", f"{col.name} is empty")
    fail(
        "oversize",
        f"length({ref}) > {col.max_length}",
        f"{col.name} longer than {col.max_length} characters",
    )
    type_check = {
        "date": f"{v} in (select value from _bad_{col.name})",
        "int": f"{v} !~ '^-?[0-9]{{1,9}}$'",
        "numeric": f"{v} !~ '^-?[0-9]{{1,16}}(\\.[0-9]{{1,2}})?$'",
        "bool": f"{v} not in ('0', '1')",
        # Codes and dates repeat a lot: they are checked once per distinct value (validate_and_load).
        "uscc": f"{v} in (select value from _bad_{col.name})",
        "mobile": f"not zxt.is_mobile({v})",
        "enum": f"{v} not in ({', '.join(repr(x) for x in col.values)})",
    }.get(col.type)
    if type_check:
        what = {
            "uscc": "invalid USCC (GB 32100 shape or check digit)",
            "mobile": "not a mainland mobile number",
            "enum": f"not one of {list(col.values)}",
        }.get(col.type, f"not a valid {col.type}")
        fail(col.type, f"{v} is not null and {type_check}", f"{col.name} {what}")
    if col.type == "date":
        lo = date_bound(col.min or DEFAULT_DATE_MIN, drop_date)
        hi = date_bound(col.max or DEFAULT_DATE_MAX, drop_date)
        fail(
            "bounds",
            f"{v} in (select value from _oob_{col.name})",
            f"{col.name} outside the plausible range {lo} .. {hi} (drop date {drop_date})",
        )
    elif col.type in {"int", "numeric"} and (col.min is not None or col.max is not None):
        pattern = "^-?[0-9]{1,9}$" if col.type == "int" else "^-?[0-9]{1,16}(\\.[0-9]{1,2})?$"
        conds = [f"{v}::numeric < {float(col.min)}" for _ in [0] if col.min is not None]
        conds += [f"{v}::numeric > {float(col.max)}" for _ in [0] if col.max is not None]
        # Nested CASE: the cast runs only on values that passed the type check.
        out.append(
            f"case when {v} ~ '{pattern}' then case when {' or '.join(conds)} then "
            f"'bounds|{col.name}|{_q(f'{col.name} outside {col.min} .. {col.max}')}' end end"
        )
    return out


def validate_and_load(
    cur: psycopg.Cursor, ds: Dataset, header: list[str], lineage: tuple[uuid.UUID, str, date]
) -> Validated:
    drop_date = lineage[2]
    pos = {name: i for i, name in enumerate(header)}
    contract = set(ds.column_names)
    # A required column must be in the file; an optional one may be missing (older senders, columns
    # added to the contract later) and loads as empty.
    missing = [c.name for c in ds.columns if c.name not in pos and (c.required or c.name in ds.key)]
    if missing:
        raise FileRefused("missing_column", f"file lacks contract column(s) {missing} of dataset {ds.name}")
    absent = [c.name for c in ds.columns if c.name not in pos]
    extra = [h for h in header if h not in contract]
    drift = {k: v for k, v in (("added", extra), ("absent_optional", absent)) if v}
    if drift:
        log.warning("%s: schema drift %s (added columns are kept in _extra)", ds.name, drift)

    def ref(name: str) -> str:
        return f"c{pos[name]}" if name in pos else "null::text"

    for c in ds.columns:
        if c.name not in pos:
            continue
        col = f"nullif(btrim(c{pos[c.name]}), '')"
        if c.type == "uscc":
            cur.execute(
                # MATERIALIZED keeps the planner from pushing the check below the DISTINCT.
                f"""create temp table _bad_{c.name} on commit drop as
                    with d as materialized (select distinct {col} as value from _in)
                    select value from d where value is not null and not zxt.uscc_valid(value)"""
            )
        elif c.type == "date":
            lo = date_bound(c.min or DEFAULT_DATE_MIN, drop_date)
            hi = date_bound(c.max or DEFAULT_DATE_MAX, drop_date)
            cur.execute(
                f"""create temp table _dates_{c.name} on commit drop as
                    with d as materialized (select distinct {col} as value from _in)
                    select value, zxt.is_date(value) as ok from d where value is not null"""
            )
            cur.execute(
                f"create temp table _bad_{c.name} on commit drop as select value from _dates_{c.name} where not ok"
            )
            cur.execute(
                f"""create temp table _oob_{c.name} on commit drop as
                    select value from (select value from _dates_{c.name} where ok) as v
                    where value::date not between %s and %s""",
                (lo, hi),
            )
    checks = [s for c in ds.columns if c.name in pos for s in _check_sql(c, ref(c.name), drop_date)]
    key = ", ".join(f"c{pos[k]}" for k in ds.key)
    cur.execute(
        f"""create temp table _checked on commit drop as
            select *, array_remove(array[{", ".join(checks)}]::text[], null) as _errors,
                   row_number() over (partition by {key} order by _row_number) as _key_seq
            from _in"""
    )
    total = cur.rowcount
    record = "array_to_string(array[" + ", ".join(f"c{i}" for i in range(len(header))) + "], ',', '')"
    value_of = " ".join(f"when '{c.name}' then c{pos[c.name]}" for c in ds.columns if c.name in pos)
    cur.execute(
        f"""insert into _rejects (row_number, rule, reason, record, column_name, raw_value)
            select _row_number,
                   case when cardinality(_errors) > 0 then split_part(_errors[1], '|', 1) else 'duplicate_key' end,
                   case when cardinality(_errors) > 0
                        then (select string_agg(split_part(e, '|', 3), '; ') from unnest(_errors) as e)
                        else 'duplicate key ({", ".join(ds.key)}) already on an earlier row of this file' end,
                   {record},
                   case when cardinality(_errors) > 0 then split_part(_errors[1], '|', 2) end,
                   case when cardinality(_errors) > 0
                        then left(case split_part(_errors[1], '|', 2) {value_of} end, 4000) end
            from _checked where cardinality(_errors) > 0 or _key_seq > 1"""
    )
    rejected = cur.execute("select count(*) from _rejects").fetchone()[0]
    if total >= RETYPED_MIN_ROWS and rejected >= RETYPED_SHARE * total:
        _refuse_retyped(cur, ds, pos, total)
    names = list(ds.column_names)
    casts = []
    for c in ds.columns:
        v = f"nullif(btrim({ref(c.name)}), '')"
        casts.append(f"{v}::{raw_tables.PG_TYPES[c.type]}" if c.type != "bool" else f"({v} = '1')")
    if extra and _has_extra_column(cur, ds.raw_table):
        names.append("_extra")
        casts.append("jsonb_build_object(" + ", ".join(f"'{_q(h)}', c{pos[h]}" for h in extra) + ")")
    cur.execute(
        f"""insert into raw.{ds.raw_table} ({", ".join(names)}, _batch_id, _source_file, _row_number, _drop_date)
            select {", ".join(casts)}, %s, %s, _row_number, %s
            from _checked where cardinality(_errors) = 0 and _key_seq = 1""",
        lineage,
    )
    loaded = cur.rowcount
    return Validated(loaded, rejected, drift)


def _refuse_retyped(cur: psycopg.Cursor, ds: Dataset, pos: dict[str, int], total: int) -> None:
    """Nearly every row refused: if one required column is to blame, the sender changed the
    column (retyped or emptied it) and the file is refused whole rather than row by row."""
    # Only a change of kind (a date column now holding 2026/10/01, numbers holding text, or the
    # column emptied) is drift; bad codes or enum values in every row are still row rejects.
    required = [c for c in ds.columns if c.required and c.name in pos]
    counts = ", ".join(
        f"count(*) filter (where exists (select 1 from unnest(_errors) as e "
        f"where e like '{c.type}|{c.name}|%' and '{c.type}' in ('date', 'int', 'numeric', 'bool') "
        f"or e like 'required|{c.name}|%'))"
        for c in required
    )
    row = cur.execute(f"select {counts} from _checked").fetchone()
    for c, bad in zip(required, row, strict=True):
        if bad >= RETYPED_SHARE * total:
            raise FileRefused(
                "schema_drift",
                f"required column {c.name} looks retyped or emptied: {bad} of {total} values are "
                f"empty or not a valid {c.type}",
            )


def _has_extra_column(cur: psycopg.Cursor, table: str) -> bool:
    return bool(
        cur.execute(
            """select 1 from information_schema.columns
               where table_schema = 'raw' and table_name = %s and column_name = '_extra'""",
            (table,),
        ).fetchone()
    )
