"""Landing zone → ``raw``: stream each file into PostgreSQL with COPY and validate set-wise in SQL.

Every data row of every file ends up either in ``raw.<system>__<dataset>`` (with lineage columns)
or in ``raw.rejects`` with the file, row, column, rule and raw value; ``ops.load_batches`` keeps
per file rows read = rows loaded + rows rejected. A file that fails as a whole is quarantined
(status and reason in ``ops.load_batches``, its rows in rejects) and the other files load: nothing
about one file stops the night — whether the marts may be built is the source gate's decision.
Each drop is one transaction (all its files, or none); reloading a drop replaces its rows; an
unchanged file is skipped. Originals are archived under their SHA-256.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

import psycopg
import sqlalchemy as sa

from zxt.core.settings import Settings, get_settings
from zxt.ingest import archive, contracts, csv_reader, prescan, validate, xlsx_reader
from zxt.ingest.contracts import Dataset
from zxt.ingest.discovery import Drop, Refusal, discover, outside, survey
from zxt.ingest.refusal import FileRefused
from zxt.warehouse import migrate
from zxt.warehouse import server as warehouse

log = logging.getLogger(__name__)

__all__ = ["Drop", "FileResult", "discover", "ingest_drop", "ingest_until", "plan"]
# The warehouse itself failing is not the file's fault: let the task retry.
INFRASTRUCTURE = (psycopg.OperationalError, psycopg.InterfaceError)
LANDING_SUFFIXES = {".csv", ".xlsx"}


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
    status: str = "loaded"  # loaded | quarantined
    rows_read: int = 0
    reason: str | None = None
    encoding: str = ""
    drift: dict = field(default_factory=dict)


def plan(as_of: date, settings: Settings | None = None, since: date | None = None) -> list[Drop]:
    """The drops to load, recording the landing paths refused on the way (ops.landing_refusals)."""
    settings = settings or get_settings()
    drops, refused = survey(as_of, settings, since)
    engine = warehouse.engine(settings, role="loader")
    migrate.ensure_current(engine)
    with engine.begin() as conn:
        # A scan replaces what it covers: a symlink removed since is no longer reported.
        conn.execute(
            sa.text(
                "delete from ops.landing_refusals where drop_date is null "
                "or (drop_date <= :a and (cast(:s as date) is null or drop_date >= :s))"
            ),
            {"a": as_of, "s": since},
        )
        _record_refusals(conn, refused)
    return drops


def _record_refusals(conn: sa.Connection, refused: list[Refusal]) -> None:
    for r in refused:
        conn.execute(
            sa.text(
                """insert into ops.landing_refusals (path, dataset, drop_date, reason) values (:p, :n, :d, :r)
                   on conflict (path) do update set dataset = excluded.dataset, drop_date = excluded.drop_date,
                     reason = excluded.reason, seen_at = now()"""
            ),
            {"p": r.path, "n": r.dataset, "d": r.drop_date, "r": r.reason},
        )


def ingest_drop(
    drop: Drop, settings: Settings | None = None, dataset: Dataset | None = None
) -> list[FileResult]:
    """Load one drop in one transaction. Never raises for what a file contains. ``dataset``
    overrides the drop's contract (benchmarks: the same file under another declared encoding)."""
    settings = settings or get_settings()
    engine = warehouse.engine(settings, role="loader")
    migrate.ensure_current(engine)
    ds = dataset or contracts.get(drop.dataset)
    landing = settings.paths.landing
    files: list[Path] = []
    refused: list[Refusal] = []
    for p in sorted(drop.path.iterdir()):
        rel = str(p.relative_to(landing)) if p.is_relative_to(landing) else str(p)
        if why := outside(p, landing):
            log.warning("landing zone: refusing %s: %s", rel, why)
            refused.append(Refusal(rel, ds.name, drop.drop_date, why))
        elif p.is_file() and p.suffix.lower() in LANDING_SUFFIXES:
            files.append(p)
        else:
            log.warning("drop %s: ignoring %s (not a .csv or .xlsx file)", drop.path, p.name)
    with engine.begin() as conn:
        _record_refusals(conn, refused)
        pg: psycopg.Connection = conn.connection.driver_connection
        with pg.cursor() as cur:
            # Loads of one drop are serialised; different drops touch different files' rows.
            cur.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"{ds.name}/{drop.drop_date}",))
            results = [_ingest_file(cur, ds, drop.drop_date, f, settings) for f in files]
            withdrawn = _forget_withdrawn(cur, ds, drop, {r.source_file for r in results})
            changed = [r for r in results if not r.skipped]
            if changed or withdrawn:
                _record_affected(cur, ds, drop, changed, withdrawn)
                # Fresh statistics for dbt's plans right after the rows changed.
                cur.execute(f"analyze raw.{ds.raw_table}")
    for r in results:
        if r.status == "quarantined":
            # An unexpected error's text may quote a cell: it stays in ops.load_batches, not the log.
            said = (
                "unexpected error (reason in ops.load_batches)"
                if r.reason.startswith("internal:")
                else r.reason
            )
            log.error("%s: QUARANTINED (%s row(s) to raw.rejects): %s", r.source_file, r.rows_read, said)
    return results


def _forget_withdrawn(cur: psycopg.Cursor, ds: Dataset, drop: Drop, present: set[str]) -> list[str]:
    """A re-sent drop replaces the old one: rows of files it no longer contains are removed
    (their originals stay in the archive)."""
    loaded = cur.execute(
        "select source_file from ops.load_batches where dataset = %s and drop_date = %s",
        (ds.name, drop.drop_date),
    ).fetchall()
    gone = sorted({s for (s,) in loaded} - present)
    for source in gone:
        log.warning("%s is no longer in its drop: removing its rows from raw", source)
        _delete_file_rows(cur, ds, source)
    return gone


def _delete_file_rows(cur: psycopg.Cursor, ds: Dataset, source: str) -> None:
    cur.execute(f"delete from raw.{ds.raw_table} where _source_file = %s", (source,))
    cur.execute("delete from raw.rejects where source_file = %s", (source,))
    cur.execute("delete from ops.load_batches where source_file = %s", (source,))


def _record_affected(
    cur: psycopg.Cursor, ds: Dataset, drop: Drop, changed: list[FileResult], withdrawn: list[str]
) -> None:
    """A drop (re)loaded behind data of a later date changes as_of dates already built."""
    later = cur.execute(
        """select min(drop_date) from ops.load_batches
           where dataset = %s and drop_date > %s and status = 'loaded'""",
        (ds.name, drop.drop_date),
    ).fetchone()[0]
    corrected = [r for r in changed if r.problems and "replaces" in r.problems[0]]
    if not later and not corrected and not withdrawn:
        return
    kind = "correction" if corrected or withdrawn else "late"
    # A snapshot stands until the next snapshot; delta rows count for every later date.
    until = later - timedelta(days=1) if later and ds.load == "snapshot" else None
    for source, batch in [(r.source_file, r.batch_id) for r in changed] or [(withdrawn[0], uuid.uuid4())]:
        cur.execute(
            """insert into ops.ingest_affected (dataset, drop_date, source_file, batch_id, kind, affected_from,
                 affected_to) values (%s, %s, %s, %s, %s, %s, %s)""",
            (ds.name, drop.drop_date, source, batch, kind, drop.drop_date, until),
        )
    log.warning(
        "%s %s: %s drop loaded behind later data; as_of dates from %s%s need a rebuild (zxt ingest affected)",
        ds.name,
        drop.drop_date,
        kind,
        drop.drop_date,
        f" to {until}" if until else " on",
    )


def _ingest_file(
    cur: psycopg.Cursor, ds: Dataset, drop_date: date, path: Path, settings: Settings
) -> FileResult:
    source = archive.relative(path, settings)
    facts = prescan.scan(path)
    prior = cur.execute(
        "select sha256, rows_loaded, rows_rejected, rows_read, archived_path, status, reason, encoding "
        "from ops.load_batches where source_file = %s",
        (source,),
    ).fetchone()
    if prior is not None and prior[0] == facts.sha256:
        return FileResult(
            ds.name, source, drop_date.isoformat(), facts.sha256, prior[1], prior[2], True, prior[4], [],
            status=prior[5], rows_read=prior[3], reason=prior[6], encoding=prior[7],
        )  # fmt: skip
    archived = archive.archive(path, ds, drop_date, facts.sha256, settings)
    batch_id = uuid.uuid4()
    problems = [f"replaces an earlier version of {source}"] if prior is not None else []
    _delete_file_rows(cur, ds, source)
    csv_reader.drop_temp_tables(cur)
    xlsx = path.suffix.lower() == ".xlsx"
    if xlsx:
        decision = prescan.EncodingDecision("utf-8", "xlsx (cells read as text, converted to UTF-8 CSV)")
    else:
        decision = prescan.decide_encoding(ds.encoding, facts, path.name, ds.name)
    log.info("%s: encoding %s", source, decision.note)
    status, reason, drift, load_path = "loaded", None, {}, "copy"
    converted_dir = tempfile.TemporaryDirectory(prefix="zxt-xlsx-") if xlsx else None
    data_path: Path | None = None if xlsx else path
    sheets: xlsx_reader.Converted | None = None
    cur.execute("savepoint load_file")
    try:
        if decision.refuse:
            raise FileRefused("encoding", decision.refuse)
        if xlsx:
            csv_path = Path(converted_dir.name) / f"{path.stem}.csv"
            sheets = xlsx_reader.to_csv(path, ds, csv_path)
            data_path, facts_read = csv_path, prescan.scan(csv_path)
        else:
            facts_read = facts
        header = csv_reader.read_header(data_path, decision.encoding)
        staged = csv_reader.stage(cur, data_path, header, decision.encoding, facts_read)
        load_path = ("xlsx+" if xlsx else "") + staged.path_taken
        v = validate.validate_and_load(cur, ds, header, (batch_id, source, drop_date))
        if staged.rows_read != v.loaded + v.rejected:
            raise RuntimeError(
                f"accounting: {staged.rows_read} read but {v.loaded} loaded + {v.rejected} rejected"
            )
        loaded, rejected, read, drift = v.loaded, v.rejected, staged.rows_read, v.drift
        if not read:
            log.warning("%s: the file has a header and no data rows", source)
    except INFRASTRUCTURE:
        raise
    except Exception as exc:
        cur.execute("rollback to savepoint load_file")
        refusal = exc if isinstance(exc, FileRefused) else _unexpected(exc, source)
        status, reason, load_path = "quarantined", f"{refusal.rule}: {refusal.reason}", "quarantine"
        try:
            if data_path is None:  # a workbook that could not be read: no rows to count
                cur.execute(
                    csv_reader.REJECTS_DDL.replace("create temp table", "create temp table if not exists")
                )
                read = 0
            else:
                read = csv_reader.stage_rejected_whole(cur, data_path, decision.encoding, refusal)
        except INFRASTRUCTURE:
            raise
        except Exception:  # even its lines cannot be kept: the archived original is the record
            log.exception("%s: could not copy the quarantined file's rows to raw.rejects", source)
            cur.execute("rollback to savepoint load_file")
            cur.execute(
                csv_reader.REJECTS_DDL.replace("create temp table", "create temp table if not exists")
            )
            cur.execute("truncate _rejects")
            read = 0
        loaded, rejected = 0, read
    finally:
        if converted_dir is not None:
            converted_dir.cleanup()
    if sheets is not None and sheets.rows:
        _point_at_cells(cur, sheets)
    cur.execute("release savepoint load_file")
    cur.execute(
        """insert into raw.rejects (batch_id, dataset, drop_date, source_file, row_number, rule, reason, record,
             column_name, raw_value)
           select %s, %s, %s, %s, row_number, rule, reason, record, column_name, raw_value from _rejects""",
        (batch_id, ds.name, drop_date, source),
    )
    cur.execute(
        """insert into ops.load_batches (batch_id, dataset, drop_date, source_file, sha256, bytes, encoding,
             rows_loaded, rows_rejected, rows_read, archived_path, status, reason, drift, load_path)
           values (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)""",
        (
            batch_id, ds.name, drop_date, source, facts.sha256, facts.size, decision.note, loaded, rejected, read,
            str(archived), status, reason, psycopg.types.json.Jsonb(drift) if drift else None, load_path,
        ),
    )  # fmt: skip
    if rejected and status == "loaded":
        log.warning(
            "%s: %d row(s) rejected, %d loaded (see raw.rejects where source_file = '%s')",
            source,
            rejected,
            loaded,
            source,
        )
    result = FileResult(
        ds.name, source, drop_date.isoformat(), facts.sha256, loaded, rejected, False, str(archived), problems,
        status=status, rows_read=read, reason=reason, encoding=decision.note, drift=drift,
    )  # fmt: skip
    result.batch_id = batch_id  # type: ignore[attr-defined]
    return result


def _point_at_cells(cur: psycopg.Cursor, sheets: xlsx_reader.Converted) -> None:
    """Rejects of a workbook name the sheet and spreadsheet row a person would open."""
    cur.execute(
        "create temp table _sheet_rows (row_number integer, sheet text, sheet_row integer) on commit drop"
    )
    with cur.copy("copy _sheet_rows from stdin") as copy:
        for n, (sheet, row) in enumerate(sheets.rows, start=2):
            copy.write_row((n, sheet, row))
    cur.execute(
        """update _rejects as r set reason = format('sheet %s row %s: %s', s.sheet, s.sheet_row, r.reason)
           from _sheet_rows as s where s.row_number = r.row_number"""
    )


def _unexpected(exc: Exception, source: str) -> FileRefused:
    # Only the exception type is logged: a database message may quote a cell (personal data).
    log.error("%s: unexpected %s while loading; the file is quarantined", source, type(exc).__name__)
    first = str(exc).splitlines()[0] if str(exc) else ""
    return FileRefused("internal", f"unexpected {type(exc).__name__} while loading: {first[:300]}")


def ingest_until(as_of: date, settings: Settings | None = None, since: date | None = None) -> list[dict]:
    """Load every drop dated on or before ``as_of`` (unchanged files are skipped). The CLI's entry."""
    settings = settings or get_settings()
    out: list[dict] = []
    for drop in plan(as_of, settings, since):
        out.extend(asdict(r) for r in ingest_drop(drop, settings))
    return out
