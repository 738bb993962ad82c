"""The warehouse build lease: one night at a time builds the shared layers; a lease left behind by a
run that ended is taken over; concurrent takers get exactly one winner."""

from __future__ import annotations

import threading
from datetime import date

from zxt.warehouse import build_lease

D1, D2 = date(2026, 11, 10), date(2026, 11, 11)


def test_one_holder_at_a_time(clean_warehouse):
    engine = clean_warehouse
    assert build_lease.acquire(engine, "zxt_nightly/a", D1) is None
    held = build_lease.acquire(engine, "zxt_nightly/b", D2)
    assert held is not None and held.holder == "zxt_nightly/a" and held.as_of_date == D1
    assert build_lease.acquire(engine, "zxt_nightly/a", D1) is None  # a retried task keeps its lease
    assert build_lease.release(engine, "zxt_nightly/b") is False  # only the holder can release
    assert build_lease.release(engine, "zxt_nightly/a") is True
    assert build_lease.acquire(engine, "zxt_nightly/b", D2) is None
    assert build_lease.current(engine).holder == "zxt_nightly/b"


def test_a_lease_whose_run_ended_is_taken_over(clean_warehouse):
    engine = clean_warehouse
    build_lease.acquire(engine, "zxt_nightly/killed", D1)
    asked = []

    def is_stale(holder: str) -> bool:
        asked.append(holder)
        return holder == "zxt_nightly/killed"

    assert build_lease.acquire(engine, "zxt_nightly/next", D2, is_stale=is_stale) is None
    assert asked == ["zxt_nightly/killed"]
    assert build_lease.current(engine).holder == "zxt_nightly/next"


def test_concurrent_takers_get_one_winner(clean_warehouse):
    engine = clean_warehouse
    results: dict[str, object] = {}
    start = threading.Barrier(6)

    def take(name: str) -> None:
        start.wait()
        results[name] = build_lease.acquire(engine, name, D1)

    threads = [threading.Thread(target=take, args=(f"zxt_nightly/r{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [n for n, r in results.items() if r is None]
    assert len(winners) == 1 and build_lease.current(engine).holder == winners[0]
