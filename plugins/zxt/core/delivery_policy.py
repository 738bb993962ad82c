"""When may a run deliver? Only for the current business date, and never from a backfill."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from zxt.core.settings import Settings, get_settings


@dataclass(frozen=True)
class Decision:
    deliver: bool
    reason: str


def decide(as_of: date, run_type: str = "scheduled", settings: Settings | None = None) -> Decision:
    settings = settings or get_settings()
    current = settings.clock.current_business_date()
    if run_type == "backfill":
        return Decision(False, f"backfill run for {as_of}: data rebuilt, nothing sent")
    if as_of != current:
        return Decision(
            False, f"{as_of} is not the current business date ({current}): data rebuilt, nothing sent"
        )
    return Decision(True, f"{as_of} is the current business date")
