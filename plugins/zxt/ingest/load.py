"""Landing zone → ``raw``: stream each file into PostgreSQL with COPY and validate set-wise in SQL.

Every input row ends up either in ``raw.<system>__<dataset>`` (with lineage columns) or in
``raw.rejects`` with the file, row and rule. Each original file is archived under its SHA-256.
Reloading a drop replaces that drop's rows; an unchanged file is skipped.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import psycopg
import sqlalchemy as sa

from zxt.core.settings import Settings, get_settings
from zxt.ingest import archive, contracts, csv_reader, validate
from zxt.ingest.contracts import Dataset
from zxt.ingest.discovery import Drop, discover
from zxt.warehouse import migrate
from zxt.warehouse import server as warehouse

log = logging.getLogger(__name__)

__all__ = ["Drop", "FileResult", "discover", "ingest_drop", "ingest_file", "ingest_until"]


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


def ingest_drop(drop: Drop, settings: Settings | None = None) -> list[FileResult]:
    settings = settings or get_settings()
    engine = warehouse.engine(settings, role="loader")
    migrate.ensure_current(engine)
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


def ingest_file(
    ds: Dataset, drop_date: date, path: Path, settings: Settings, engine: sa.Engine | None = None
) -> FileResult:
    engine = engine or warehouse.engine(settings, role="loader")
    source = archive.relative(path, settings)
    sha = archive.sha256(path)
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
    archived = archive.archive(path, ds, drop_date, sha, settings)
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
            header, header_problem = csv_reader.read_header(path, ds)
            if header_problem:
                problems.append(header_problem[1])
            staged = csv_reader.stage(cur, ds, path, header, problems) if header is not None else False
            if not staged:
                loaded, rejected = (
                    0,
                    csv_reader.reject_unreadable(
                        cur, ds, path, header_problem or ("header", "unreadable file")
                    ),
                )
            else:
                loaded, rejected = validate.validate_and_load(cur, ds, header, (batch_id, source, drop_date))
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


def ingest_until(as_of: date, settings: Settings | None = None, since: date | None = None) -> list[dict]:
    """Load every drop dated on or before ``as_of`` (unchanged files are skipped). The CLI's entry."""
    settings = settings or get_settings()
    out: list[dict] = []
    for drop in discover(as_of, settings, since):
        out.extend(asdict(r) for r in ingest_drop(drop, settings))
    return out
