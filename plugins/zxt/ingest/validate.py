"""Set-wise contract checks in SQL over ``_in``: good rows to ``raw``, the rest to ``_rejects``."""

from __future__ import annotations

import logging
import uuid
from datetime import date

import psycopg

from zxt.ingest.contracts import Column, Dataset
from zxt.warehouse import raw_tables

log = logging.getLogger(__name__)


def _check_sql(col: Column, ref: str) -> str:
    v = f"nullif(btrim({ref}), '')"
    checks: list[str] = []
    if col.required:
        checks.append(f"case when {v} is null then 'required:{col.name} is empty' end")
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
        msg = f"{col.type}:{col.name} {what}".replace("'", "''")
        checks.append(f"case when {v} is not null and {type_check} then '{msg}' end")
    return ", ".join(checks)


def validate_and_load(
    cur: psycopg.Cursor, ds: Dataset, header: list[str], lineage: tuple[uuid.UUID, str, date]
) -> tuple[int, int]:
    pos = {name: i for i, name in enumerate(header)}
    # A required column must be in the file; an optional one may be missing (older senders, columns
    # added to the contract later) and loads as empty.
    missing = [c.name for c in ds.columns if c.name not in pos and (c.required or c.name in ds.key)]
    absent = [c.name for c in ds.columns if c.name not in pos and c.name not in missing]
    if absent:
        log.warning("%s: optional contract column(s) %s not in the file; loaded as empty", ds.name, absent)

    def ref(name: str) -> str:
        return f"c{pos[name]}" if name in pos else "null::text"

    record = "array_to_string(array[" + ", ".join(f"c{i}" for i in range(len(header))) + "], ',', '')"
    if missing:
        cur.execute(
            f"insert into _rejects select _row_number, 'missing_column', %s, {record} from _in",
            (f"file lacks contract column(s) {missing} of dataset {ds.name}",),
        )
        return 0, cur.execute("select count(*) from _rejects").fetchone()[0]
    extra = [h for h in header if h not in {c.name for c in ds.columns}]
    if extra:
        log.warning("%s: ignoring columns not in the contract: %s", ds.name, extra)
    validity = {"uscc": "zxt.uscc_valid(value)", "date": "zxt.is_date(value)"}
    for c in ds.columns:
        if c.type in validity and c.name in pos:
            cur.execute(
                # MATERIALIZED keeps the planner from pushing the check below the DISTINCT.
                f"""create temp table _bad_{c.name} on commit drop as
                    with d as materialized (select distinct nullif(btrim(c{pos[c.name]}), '') as value from _in)
                    select value from d where value is not null and not {validity[c.type]}"""
            )
    checks = [s for c in ds.columns if c.name in pos and (s := _check_sql(c, ref(c.name)))]
    key = ", ".join(f"c{pos[k]}" for k in ds.key)
    cur.execute(
        f"""create temp table _checked on commit drop as
            select *, array_remove(array[{", ".join(checks)}]::text[], null) as _errors,
                   row_number() over (partition by {key} order by _row_number) as _key_seq
            from _in"""
    )
    cur.execute(
        f"""insert into _rejects
            select _row_number,
                   case when cardinality(_errors) > 0 then split_part(_errors[1], ':', 1) else 'duplicate_key' end,
                   case when cardinality(_errors) > 0 then array_to_string(_errors, '; ')
                        else 'duplicate key ({", ".join(ds.key)}) already on an earlier row of this file' end,
                   {record}
            from _checked where cardinality(_errors) > 0 or _key_seq > 1"""
    )
    casts = []
    for c in ds.columns:
        v = f"nullif(btrim({ref(c.name)}), '')"
        casts.append(f"{v}::{raw_tables.PG_TYPES[c.type]}" if c.type != "bool" else f"({v} = '1')")
    cur.execute(
        f"""insert into raw.{ds.raw_table} ({", ".join(ds.column_names)}, _batch_id, _source_file, _row_number,
               _drop_date)
            select {", ".join(casts)}, %s, %s, _row_number, %s
            from _checked where cardinality(_errors) = 0 and _key_seq = 1""",
        lineage,
    )
    loaded = cur.rowcount
    rejected = cur.execute("select count(*) from _rejects").fetchone()[0]
    return loaded, rejected
