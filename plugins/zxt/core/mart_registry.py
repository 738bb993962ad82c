"""The gate registry: which marts are gated, with which suite, and what officers may see of them.

Each gated mart declares itself once, in its dbt YAML (``config.meta``)::

    config:
      meta:
        gate: {suite: credit_warning, partition: as_of_date, params: {...}, row_band: {...}}
        officer_view: true                 # publish exposes marts.<name>_current
    columns:
      - {name: contact_mobile, meta: {officer: mask_mobile}}

The registry is read from the dbt manifest (``zxt dbt parse`` / ``make install`` write it), at run
time only. Lineage from the manifest says which landing datasets each mart reads, so the source gate
knows which marts a late or refused drop blocks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zxt.core.settings import Settings, get_settings

# What officers see of a column in <mart>_current; a column without a policy is shown.
OFFICER_POLICIES = ("shown", "mask_mobile", "mask_name", "mask_person_name", "hidden")
# Partitioned marts must replace their whole partition on rebuild (macros/replace_partition.sql).
PARTITION_STRATEGY = "replace_partition"
RAW_SOURCE = "raw"
# Column names that hold a person's data. In a mart with an officers' view such a column needs an
# explicit meta.officer (``shown`` included): a new personal column is never shown by default.
PERSONAL_COLUMN = re.compile(
    r"mobile|phone|email|openid|address|id_card|id_number|id_no|contact_name|legal_rep|owner_name|person",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class MartColumn:
    name: str
    description: str = ""
    officer: str = "shown"
    officer_declared: bool = False  # meta.officer written in the YAML (not the default)


@dataclass(frozen=True)
class RowBand:
    """Overrides of the row-count band (settings.quality) for one mart; None = the default."""

    low: float | None = None
    high: float | None = None
    history: int | None = None


@dataclass(frozen=True)
class GatedMart:
    name: str
    schema: str
    suite: str
    partition: str
    description: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    row_band: RowBand = field(default_factory=RowBand)
    officer_view: bool = False
    columns: tuple[MartColumn, ...] = ()
    datasets: tuple[str, ...] = ()  # landing datasets read, "<system>/<dataset>"
    materialized: str = ""
    incremental_strategy: str | None = None
    unique_key: str | None = None

    @property
    def relation(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def current_view(self) -> str:
        return f"{self.schema}.{self.name}_current"

    def column(self, name: str) -> MartColumn | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True)
class Registry:
    marts: tuple[GatedMart, ...]
    manifest: Path

    def __iter__(self) -> Iterator[GatedMart]:
        return iter(self.marts)

    def __len__(self) -> int:
        return len(self.marts)

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.marts]

    def get(self, name: str) -> GatedMart:
        for m in self.marts:
            if m.name == name:
                return m
        raise KeyError(f"{name!r} is not a gated mart; the registry ({self.manifest}) has {self.names}")

    def readers_of(self, dataset: str) -> list[str]:
        """Gated marts that read a landing dataset (directly or through staging and intermediate)."""
        return [m.name for m in self.marts if dataset in m.datasets]


class RegistryError(ValueError):
    """The manifest is missing or a mart's declaration is malformed."""


def load(settings: Settings | None = None, manifest: Path | None = None) -> Registry:
    """Gated marts declared in the dbt manifest, sorted by name."""
    path = manifest or (settings or get_settings()).paths.dbt_manifest
    if not path.is_file():
        raise RegistryError(f"{path} is missing: run `zxt dbt parse` (make install does) to write it")
    doc = json.loads(path.read_text(encoding="utf-8"))
    marts = [
        _mart(node, doc)
        for node in doc["nodes"].values()
        if node.get("resource_type") == "model" and _meta(node).get("gate") is not None
    ]
    return Registry(tuple(sorted(marts, key=lambda m: m.name)), path)


def _meta(node: dict) -> dict:
    # dbt 1.10+ keeps meta under config; older YAML puts it at the top level. Both count.
    return {**(node.get("meta") or {}), **((node.get("config") or {}).get("meta") or {})}


def _mart(node: dict, doc: dict) -> GatedMart:
    meta = _meta(node)
    gate = meta["gate"]
    where = f"{node.get('original_file_path', node['unique_id'])}: model {node['name']}"
    if not isinstance(gate, dict) or not gate.get("suite") or not gate.get("partition"):
        raise RegistryError(f"{where}: meta.gate needs a suite and a partition column, got {gate!r}")
    band = gate.get("row_band") or {}
    config = node.get("config") or {}
    return GatedMart(
        name=node["name"],
        schema=node["schema"],
        suite=str(gate["suite"]),
        partition=str(gate["partition"]),
        description=node.get("description") or "",
        params=dict(gate.get("params") or {}),
        row_band=RowBand(band.get("low"), band.get("high"), band.get("history")),
        officer_view=bool(meta.get("officer_view", False)),
        columns=tuple(_column(c, where) for c in (node.get("columns") or {}).values()),
        datasets=tuple(sorted(_raw_datasets(node["unique_id"], doc))),
        materialized=str(config.get("materialized") or ""),
        incremental_strategy=config.get("incremental_strategy"),
        unique_key=config.get("unique_key") if isinstance(config.get("unique_key"), str) else None,
    )


def _column(col: dict, where: str) -> MartColumn:
    meta = {**(col.get("meta") or {}), **((col.get("config") or {}).get("meta") or {})}
    policy = meta.get("officer", "shown")
    if policy not in OFFICER_POLICIES:
        raise RegistryError(
            f"{where}: column {col['name']} has officer: {policy!r}; use one of {list(OFFICER_POLICIES)}"
        )
    return MartColumn(col["name"], col.get("description") or "", policy, "officer" in meta)


def _raw_datasets(unique_id: str, doc: dict) -> set[str]:
    parents = doc.get("parent_map") or {}
    seen: set[str] = set()
    stack = [unique_id]
    found: set[str] = set()
    while stack:
        node_id = stack.pop()
        for parent in parents.get(node_id, []):
            if parent in seen:
                continue
            seen.add(parent)
            source = doc.get("sources", {}).get(parent)
            if source is not None:
                if source.get("source_name") == RAW_SOURCE:
                    system, _, entity = source["name"].partition("__")
                    found.add(f"{system}/{entity}")
            else:
                stack.append(parent)
    return found


def problems(marts: Iterable[GatedMart], suites_dir: Path) -> list[str]:
    """Declarations that would make a gate or publish wrong; tests keep this list empty."""
    out: list[str] = []
    for m in marts:
        if not (suites_dir / f"{m.suite}.json").is_file():
            out.append(f"{m.name}: suite {suites_dir / (m.suite + '.json')} does not exist")
        if m.columns and m.column(m.partition) is None:
            out.append(f"{m.name}: partition column {m.partition} is not among its columns")
        if m.materialized != "incremental" or m.incremental_strategy != PARTITION_STRATEGY:
            out.append(
                f"{m.name}: a gated mart keeps one partition per {m.partition} and must be incremental with "
                f"incremental_strategy='{PARTITION_STRATEGY}' (is {m.materialized}/{m.incremental_strategy})"
            )
        elif m.unique_key != m.partition:
            out.append(f"{m.name}: unique_key must be the partition column {m.partition}, not {m.unique_key}")
        if not m.datasets:
            out.append(f"{m.name}: reads no landing dataset (lineage from the manifest is empty)")
        for c in m.columns if m.officer_view else ():
            if PERSONAL_COLUMN.search(c.name) and not c.officer_declared:
                out.append(
                    f"{m.name}: column {c.name} looks like personal data and officers would see it: declare "
                    f"meta.officer ({', '.join(OFFICER_POLICIES)})"
                )
        if m.officer_view and m.columns and m.column("branch_code") is None:
            out.append(
                f"{m.name}: has an officers' view but no branch_code column, so row-level security would "
                "show officers nothing"
            )
    return out
