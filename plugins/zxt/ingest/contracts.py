"""Landing-zone dataset contracts, loaded from ``landing/<system>.yml`` (format: landing/README.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import yaml

CONTRACTS_DIR = Path(__file__).with_name("landing")
TYPES = {"text", "date", "int", "numeric", "bool", "uscc", "mobile", "enum"}
# ``auto``: UTF-8 (with or without BOM) when the whole file is valid UTF-8, else GB18030 (GBK is a
# subset); the decision is logged and stored with the load.
ENCODINGS = {"utf-8", "gb18030", "auto"}
# Longest accepted cell, in characters, unless a column sets ``max_length``: far above any real
# name or address, far below what would bloat raw tables or choke a spreadsheet export.
DEFAULT_MAX_LENGTH = 2000
# Plausible business dates unless a column sets ``min``/``max``: nothing before the first
# registrations of the PRC's tax system, nothing more than ten years after the drop (2099 and
# 9999 are placeholders or typos, not dates).
DEFAULT_DATE_MIN = "1949-10-01"
DEFAULT_DATE_MAX = "drop+3660d"
_RELATIVE = re.compile(r"^drop(?:([+-])(\d+)d)?$")


def date_bound(spec: str, drop_date: date) -> date:
    """A date bound: ``YYYY-MM-DD`` or relative to the drop's business date (``drop``, ``drop+30d``)."""
    m = _RELATIVE.match(spec)
    if not m:
        return date.fromisoformat(spec)
    days = int(m.group(2) or 0)
    return drop_date + timedelta(days=-days if m.group(1) == "-" else days)


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = False
    values: tuple[str, ...] = ()
    doc: str = ""
    # Bounds: dates as ``YYYY-MM-DD`` or ``drop[+-Nd]``; int/numeric as numbers. None = default.
    min: str | None = None
    max: str | None = None
    max_length: int = DEFAULT_MAX_LENGTH
    aliases: tuple[str, ...] = ()  # other header texts meaning this column (XLSX from departments)


@dataclass(frozen=True)
class Dataset:
    name: str  # "<system>/<dataset>"
    description: str
    load: str  # snapshot | delta
    encoding: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    expected_by: str | None = None  # HH:MM on the day after the business date; else expectations/sources.yml
    pull: str | None = None  # the credit-sharing platform's dataset name, for sources pulled from its API

    @property
    def system(self) -> str:
        return self.name.split("/")[0]

    @property
    def entity(self) -> str:
        return self.name.split("/")[1]

    @property
    def raw_table(self) -> str:
        """Table in the ``raw`` schema, named like dbt sources: <system>__<entity>."""
        return f"{self.system}__{self.entity}"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


@cache
def load_contracts(folder: Path = CONTRACTS_DIR) -> dict[str, Dataset]:
    out: dict[str, Dataset] = {}
    for path in sorted(folder.glob("*.yml")):
        for ds in _read(path):
            if ds.name in out:
                raise ValueError(f"{path.name}: dataset {ds.name} is declared twice")
            out[ds.name] = ds
    return out


def _read(path: Path) -> list[Dataset]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    out: list[Dataset] = []
    for name, spec in doc["datasets"].items():
        cols = tuple(
            Column(
                name=c["name"],
                type=c["type"],
                required=bool(c.get("required", False)),
                values=tuple(c.get("values", ())),
                doc=c.get("doc", ""),
                min=None if c.get("min") is None else str(c["min"]),
                max=None if c.get("max") is None else str(c["max"]),
                max_length=int(c.get("max_length", DEFAULT_MAX_LENGTH)),
                aliases=tuple(c.get("aliases", ())),
            )
            for c in spec["columns"]
        )
        ds = Dataset(
            name=name,
            description=spec["description"],
            load=spec["load"],
            encoding=spec["encoding"],
            key=tuple(spec["key"]),
            columns=cols,
            expected_by=None if spec.get("expected_by") is None else str(spec["expected_by"]),
            pull=spec.get("pull"),
        )
        _check(ds, path)
        out.append(ds)
    return out


def _check(ds: Dataset, path: Path) -> None:
    where = f"{path.name}: dataset {ds.name}"
    if ds.system != path.stem:
        raise ValueError(f"{where}: belongs in {ds.system}.yml")
    if ds.load not in {"snapshot", "delta"}:
        raise ValueError(f"{where}: load must be snapshot or delta, not {ds.load!r}")
    if ds.encoding not in ENCODINGS:
        raise ValueError(f"{where}: encoding must be one of {sorted(ENCODINGS)}")
    names = ds.column_names
    for col in ds.columns:
        if col.type not in TYPES:
            raise ValueError(f"{where}: column {col.name} has unknown type {col.type!r}")
        if col.type == "enum" and not col.values:
            raise ValueError(f"{where}: enum column {col.name} lists no values")
        for bound in (col.min, col.max):
            if bound is None:
                continue
            if col.type == "date":
                try:
                    date_bound(bound, date(2000, 1, 1))
                except ValueError:
                    raise ValueError(
                        f"{where}: column {col.name} bound {bound!r} is neither YYYY-MM-DD nor drop[+-Nd]"
                    ) from None
            elif col.type in {"int", "numeric"}:
                try:
                    float(bound)
                except ValueError:
                    raise ValueError(f"{where}: column {col.name} bound {bound!r} is not a number") from None
            else:
                raise ValueError(f"{where}: column {col.name} of type {col.type} cannot have min/max")
    for k in ds.key:
        if k not in names:
            raise ValueError(f"{where}: key column {k} is not a column")


def get(name: str) -> Dataset:
    try:
        return load_contracts()[name]
    except KeyError:
        raise KeyError(f"no contract for dataset {name!r}; known: {sorted(load_contracts())}") from None
