"""The ``zxt`` command: the same functions the DAG tasks call, for operators and developers.

One module per command group. Stand-ins and tooling (synthetic county, simulators, demo,
benchmarks) add their commands through the ``zxt.commands`` entry point when ``zxt_sandbox`` is
installed; the product never imports them.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points
from typing import Annotated

import typer

from zxt.cli import delivery, feedback, ingest, ops, orchestration, quality, transform, warehouse

app = typer.Typer(help="增信通 (ZengXinTong) — nightly taxpayer-credit pipeline.", no_args_is_help=True)
app.add_typer(warehouse.app, name="warehouse")
for group in (ingest, transform, quality, delivery, feedback, orchestration, ops):
    group.register(app)


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at INFO level.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _load_plugins() -> None:
    for ep in entry_points(group="zxt.commands"):
        try:
            register = ep.load()
        except ModuleNotFoundError:  # declared but not installed (the production image)
            continue
        register(app)


_load_plugins()

if __name__ == "__main__":
    app()
