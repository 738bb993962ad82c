"""Landing zone → ``raw``: stream each file into PostgreSQL with COPY and validate set-wise in SQL.

Every input row ends up either in ``raw.<system>__<dataset>`` (with lineage columns) or in
``raw.rejects`` with the file, row and rule. Each original file is archived under its SHA-256.
Reloading a drop replaces that drop's rows; an unchanged file is skipped.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import psycopg
import sqlalchemy as sa

from zxt import contracts, schema, warehouse
from zxt.contracts import Column, Dataset
from zxt.settings import Settings, get_settings

log = logging.getLogger(__name__)
PG_ENCODING = {"utf-8": "UTF8", "gb18030": "GB18030"}
CHUNK = 1 << 20


@dataclass(frozen=True)
class Drop:
    dataset: str
    drop_date: date
    path: Path  # a directory: <landing>/<system>/<dataset>/<YYYY-MM-DD>


@dataclass
class FileResult:
    dataset: str
    source_file: str
    drop_date: str
    sha256: str
    rows_loaded: int
    rows_rejected: int
    skipped: bool
    archived_path: str
    problems: list[str]


def discover(as_of: date, settings: Settings | None = None, since: date | None = None) -> list[Drop]:
    """Drops of every contracted dataset dated on or before ``as_of`` (and on or after ``since``)."""
    settings = settings or get_settings()
    drops: list[Drop] = []
    for name in contracts.load_contracts():
        base = settings.landing / name
        if not base.is_dir():
            continue
        for child in sorted(base.iterdir()):
            try:
                d = date.fromisoformat(child.name)
            except ValueError:
                log.warning("ignoring %s: folder name is not a YYYY-MM-DD business date", child)
                continue
            if child.is_dir() and d <= as_of and (since is None or d >= since):
                drops.append(Drop(name, d, child))
    return sorted(drops, key=lambda dr: (dr.drop_date, dr.dataset))


def ingest_drop(drop: Drop, settings: Settings | None = None) -> list[FileResult]:
    settings = settings or get_settings()
    engine = warehouse.engine(settings)
    schema.ensure(engine)
    ds = contracts.get(drop.dataset)
    files = sorted(p for p in drop.path.iterdir() if p.is_file() and p.suffix.lower() == ".csv")
    others = sorted(p.name for p in drop.path.iterdir() if p.is_file() and p.suffix.lower() != ".csv")
    if others:
        log.warning("drop %s: ignoring files that are not .csv: %s", drop.path, others)
    results = [ingest_file(ds, drop.drop_date, f, settings, engine) for f in files]
    _forget_withdrawn(ds, drop, {r.source_file for r in results}, engine)
    return results


def _forget_withdrawn(ds: Dataset, drop: Drop, present: set[str], engine: sa.Engine) -> None:
    """A re-sent drop replaces the old one: rows of files it no longer contains are removed
    (their originals stay in the archive)."""
    with engine.begin() as conn:
        loaded = conn.execute(
            sa.text("select source_file from ops.load_batches where dataset = :n and drop_date = :d"),
            {"n": ds.name, "d": drop.drop_date},
        ).scalars()
        for source in sorted(set(loaded) - present):
            log.warning("%s is no longer in its drop: removing its rows from raw", source)
            conn.execute(sa.text(f"delete from raw.{ds.raw_table} where _source_file = :f"), {"f": source})
            conn.execute(sa.text("delete from raw.rejects where source_file = :f"), {"f": source})
            conn.execute(sa.text("delete from ops.load_batches where source_file = :f"), {"f": source})


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _relative(path: Path, settings: Settings) -> str:
    try:
        return str(path.resolve().relative_to(settings.landing.resolve()))
    except ValueError:
        return str(path.resolve())


def _archive(path: Path, ds: Dataset, drop_date: date, sha: str, settings: Settings) -> Path:
    target = settings.archive / ds.name / drop_date.isoformat() / f"{sha[:16]}__{path.name}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".part")
        shutil.copyfile(path, tmp)
        tmp.replace(target)
    return target


def ingest_file(
    ds: Dataset, drop_date: date, path: Path, settings: Settings, engine: sa.Engine | None = None
) -> FileResult:
    engine = engine or warehouse.engine(settings)
    source = _relative(path, settings)
    sha = _sha256(path)
    with engine.connect() as conn:
        prior = conn.execute(
            sa.text(
                "select sha256, rows_loaded, rows_rejected, archived_path from ops.load_batches where source_file = :f"
            ),
            {"f": source},
        ).first()
    if prior is not None and prior.sha256 == sha:
        return FileResult(
            ds.name,
            source,
            drop_date.isoformat(),
            sha,
            prior.rows_loaded,
            prior.rows_rejected,
            True,
            prior.archived_path,
            [],
        )
    archived = _archive(path, ds, drop_date, sha, settings)
    batch_id = uuid.uuid4()
    problems: list[str] = []
    with engine.begin() as conn:
        pg: psycopg.Connection = conn.connection.driver_connection
        with pg.cursor() as cur:
            # Serialise loads of one file; replacing a drop is delete + insert in one transaction.
            cur.execute("select pg_advisory_xact_lock(hashtext(%s))", (source,))
            cur.execute(f"delete from raw.{ds.raw_table} where _source_file = %s", (source,))
            cur.execute("delete from raw.rejects where source_file = %s", (source,))
            cur.execute("delete from ops.load_batches where source_file = %s", (source,))
            header, header_problem = _read_header(path, ds)
            if header_problem:
                problems.append(header_problem[1])
            staged = _stage(cur, ds, path, header, problems) if header is not None else False
            if not staged:
                loaded, rejected = (
                    0,
                    _reject_unreadable(cur, ds, path, header_problem or ("header", "unreadable file")),
                )
            else:
                loaded, rejected = _validate_and_load(cur, ds, header, (batch_id, source, drop_date))
            cur.execute(
                """insert into raw.rejects (batch_id, dataset, drop_date, source_file, row_number, rule, reason, record)
                   select %s, %s, %s, %s, row_number, rule, reason, record from _rejects""",
                (batch_id, ds.name, drop_date, source),
            )
            cur.execute(
                """insert into ops.load_batches (batch_id, dataset, drop_date, source_file, sha256, bytes, encoding,
                     rows_loaded, rows_rejected, archived_path) values (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)""",
                (
                    batch_id,
                    ds.name,
                    drop_date,
                    source,
                    sha,
                    path.stat().st_size,
                    ds.encoding,
                    loaded,
                    rejected,
                    str(archived),
                ),
            )
    if rejected:
        log.warning(
            "%s: %d row(s) rejected, %d loaded (see raw.rejects where source_file = '%s')",
            source,
            rejected,
            loaded,
            source,
        )
    return FileResult(
        ds.name, source, drop_date.isoformat(), sha, loaded, rejected, False, str(archived), problems
    )


def _decode(raw: bytes, encoding: str) -> str:
    text = raw.decode(encoding)
    return text[1:] if text.startswith("\ufeff") else text


def _looks_utf8(sample: bytes) -> bool:
    """Non-ASCII text that decodes as UTF-8 is almost never GB18030: catch mislabelled exports early,
    since GB18030 would otherwise decode UTF-8 Chinese into plausible-looking garbage."""
    if sample.isascii():
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still UTF-8.
        return exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data"
    return True


def _read_header(path: Path, ds: Dataset) -> tuple[list[str] | None, tuple[str, str] | None]:
    """The header's column names, or (rule, reason) when the file cannot be read at all."""
    with path.open("rb") as fh:
        first = fh.readline()
        sample = first + fh.read(CHUNK)
    if ds.encoding == "gb18030" and _looks_utf8(sample):
        return None, (
            "encoding",
            f"{path.name}: file is UTF-8 but the contract of {ds.name} says GB18030; re-export it as GB18030",
        )
    try:
        line = _decode(first, ds.encoding).rstrip("\r\n")
    except UnicodeDecodeError:
        return None, ("encoding", f"{path.name}: header is not valid {ds.encoding}")
    header = next(csv.reader([line]), [])
    header = [h.strip() for h in header]
    if not header or not any(header):
        return None, ("header", f"{path.name}: empty file or empty header")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        return None, ("header", f"{path.name}: duplicate header column(s) {dupes}")
    return header, None


def _create_in_table(cur: psycopg.Cursor, header: list[str]) -> None:
    cols = ", ".join(f"c{i} text" for i in range(len(header)))
    cur.execute("drop table if exists _in")
    # _row_number is the line number in the file: COPY inserts in file order, the header is line 1.
    cur.execute(
        f"create temp table _in (_row_number integer generated by default as identity (start 2), {cols}) "
        "on commit drop"
    )
    cur.execute("drop table if exists _rejects")
    cur.execute(
        "create temp table _rejects (row_number integer, rule text, reason text, record text) on commit drop"
    )


def _stage(cur: psycopg.Cursor, ds: Dataset, path: Path, header: list[str], problems: list[str]) -> bool:
    """COPY the file into temp table ``_in``. Fast path: PostgreSQL decodes; on a broken file, a
    line-by-line path keeps the good lines and sends undecodable or ragged lines to ``_rejects``."""
    _create_in_table(cur, header)
    collist = ", ".join(f"c{i}" for i in range(len(header)))
    cur.execute("savepoint fast_copy")
    try:
        sql = f"copy _in ({collist}) from stdin (format csv, header true, encoding '{PG_ENCODING[ds.encoding]}')"
        with path.open("rb") as fh, cur.copy(sql) as copy:
            while chunk := fh.read(CHUNK):
                copy.write(chunk)
        cur.execute("release savepoint fast_copy")
        return True
    except (
        psycopg.errors.DataError,
        psycopg.errors.BadCopyFileFormat,
        psycopg.errors.CharacterNotInRepertoire,
        psycopg.errors.UntranslatableCharacter,
    ) as exc:
        cur.execute("rollback to savepoint fast_copy")
        log.info("%s: fast COPY refused (%s); loading line by line", path.name, str(exc).splitlines()[0])
    _create_in_table(cur, header)
    bad = 0
    sql = f"copy _in (_row_number, {collist}) from stdin (format csv)"
    rejects: list[tuple[int, str, str, str]] = []
    with cur.copy(sql) as copy:
        for lineno, fields, problem, record in _lines(path, ds, len(header)):
            if problem:
                bad += 1
                rejects.append((lineno, problem[0], problem[1], record))
                continue
            buf = io.StringIO()
            csv.writer(buf, lineterminator="\n").writerow([lineno, *fields])
            copy.write(buf.getvalue().encode("utf-8"))
    if rejects:
        with cur.copy("copy _rejects (row_number, rule, reason, record) from stdin") as copy:
            for row in rejects:
                copy.write_row(row)
        problems.append(f"{path.name}: {bad} line(s) unreadable (encoding or shape)")
    return True


def _lines(
    path: Path, ds: Dataset, width: int
) -> Iterator[tuple[int, list[str], tuple[str, str] | None, str]]:
    with path.open("rb") as fh:
        fh.readline()  # header
        for lineno, raw in enumerate(fh, start=2):
            try:
                text = raw.decode(ds.encoding).rstrip("\r\n")
            except UnicodeDecodeError as exc:
                yield (
                    lineno,
                    [],
                    ("encoding", f"bytes at {exc.start} are not valid {ds.encoding}"),
                    raw.decode(ds.encoding, errors="replace").rstrip("\r\n"),
                )
                continue
            if not text:
                continue
            fields = next(csv.reader([text]), [])
            if len(fields) != width:
                yield lineno, [], ("shape", f"{len(fields)} fields where the header has {width}"), text
                continue
            yield lineno, fields, None, text


def _reject_unreadable(cur: psycopg.Cursor, ds: Dataset, path: Path, problem: tuple[str, str]) -> int:
    """A file whose header cannot be read: every line is kept in rejects with the file-level reason."""
    rule, reason = problem
    cur.execute("drop table if exists _rejects")
    cur.execute(
        "create temp table _rejects (row_number integer, rule text, reason text, record text) on commit drop"
    )
    n = 0
    with (
        path.open("rb") as fh,
        cur.copy("copy _rejects (row_number, rule, reason, record) from stdin") as copy,
    ):
        for lineno, raw in enumerate(fh, start=1):
            copy.write_row((lineno, rule, reason, raw.decode(ds.encoding, errors="replace").rstrip("\r\n")))
            n += 1
    return n


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
        # Codes and dates repeat a lot: they are checked once per distinct value (_validate_and_load).
        "uscc": f"{v} in (select value from _bad_{col.name})",
        "mobile": f"{v} !~ '^1[3-9][0-9]{{9}}$'",
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


def _validate_and_load(
    cur: psycopg.Cursor, ds: Dataset, header: list[str], lineage: tuple[uuid.UUID, str, date]
) -> tuple[int, int]:
    pos = {name: i for i, name in enumerate(header)}
    missing = [c.name for c in ds.columns if c.name not in pos]
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
        if c.type in validity:
            cur.execute(
                # MATERIALIZED keeps the planner from pushing the check below the DISTINCT.
                f"""create temp table _bad_{c.name} on commit drop as
                    with d as materialized (select distinct nullif(btrim(c{pos[c.name]}), '') as value from _in)
                    select value from d where value is not null and not {validity[c.type]}"""
            )
    checks = [s for c in ds.columns if (s := _check_sql(c, f"c{pos[c.name]}"))]
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
        v = f"nullif(btrim(c{pos[c.name]}), '')"
        casts.append(f"{v}::{schema.PG_TYPES[c.type]}" if c.type != "bool" else f"({v} = '1')")
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


def ingest_until(as_of: date, settings: Settings | None = None, since: date | None = None) -> list[dict]:
    """Load every drop dated on or before ``as_of`` (unchanged files are skipped). The CLI's entry."""
    settings = settings or get_settings()
    out: list[dict] = []
    for drop in discover(as_of, settings, since):
        out.extend(asdict(r) for r in ingest_drop(drop, settings))
    return out
