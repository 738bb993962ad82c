"""A short doc on every task of a DAG (shown in the UI's task details): a TaskFlow task's docstring,
or for a dbt task what it builds or tests, with the model's description from the dbt manifest."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

ACTIONS = {
    "run": "Builds dbt model `{name}` for the business date",
    "test": "Runs the data tests of `{name}` (a failing error-severity test stops what depends on it)",
    "seed": "Loads rule seed `{name}` (dbt_project/seeds)",
    "snapshot": "Snapshots `{name}`",
}


@cache
def _descriptions(manifest: Path) -> dict[str, str]:
    if not manifest.exists():
        return {}
    nodes = json.loads(manifest.read_text(encoding="utf-8")).get("nodes", {})
    return {n["name"]: (n.get("description") or "").strip() for n in nodes.values()}


def _dbt_doc(task_id: str, manifest: Path) -> str:
    leaf = task_id.split(".", 1)[-1]
    name, _, action = leaf.rpartition(".")
    if not name:  # cosmos names a lone seed or test "<name>_seed" / "<name>_test"
        name, _, action = leaf.rpartition("_")
    doc = ACTIONS.get(action, "dbt `{name}`").format(name=name) + "."
    described = _descriptions(manifest).get(name, "")
    return f"{doc}\n\n{described.split(chr(10) + chr(10))[0]}" if described else doc


def _callable_doc(task) -> str:
    fn = getattr(task, "python_callable", None) or getattr(task, "partial_kwargs", {}).get("python_callable")
    return (getattr(fn, "__doc__", None) or "").strip()


def document(dag, manifest: Path) -> None:
    for task in dag.tasks:
        if (task.doc_md or "").strip():
            continue
        doc = _callable_doc(task)
        if not doc and task.task_id.startswith("dbt."):
            doc = _dbt_doc(task.task_id, manifest)
        if doc and hasattr(task, "partial_kwargs"):  # a mapped task keeps its doc with its arguments
            task.partial_kwargs["doc_md"] = doc
        elif doc:
            task.doc_md = doc
