"""Landing-zone dataset contracts, loaded from ``landing/<system>.yml`` (format: landing/README.md)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

CONTRACTS_DIR = Path(__file__).with_name("landing")
TYPES = {"text", "date", "int", "numeric", "bool", "uscc", "mobile", "enum"}
ENCODINGS = {"utf-8", "gb18030"}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = False
    values: tuple[str, ...] = ()
    doc: str = ""


@dataclass(frozen=True)
class Dataset:
    name: str  # "<system>/<dataset>"
    description: str
    load: str  # snapshot | delta
    encoding: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]

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
    for k in ds.key:
        if k not in names:
            raise ValueError(f"{where}: key column {k} is not a column")


def get(name: str) -> Dataset:
    try:
        return load_contracts()[name]
    except KeyError:
        raise KeyError(f"no contract for dataset {name!r}; known: {sorted(load_contracts())}") from None
