"""The credit-sharing platform client against the simulator on loopback (real HTTP), one injected
fault at a time; then the pulled file through ingest. The pull's answer under every fault must be
the fault-free answer, record for record."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from zxt_sandbox.credit_platform import CLIENT_SECRET, Faults, PlatformHandle, PlatformState

pytestmark = pytest.mark.integration

START, D = date(2026, 11, 10), date(2026, 11, 12)
SOURCE = "hr/insured_staff"


@pytest.fixture(scope="module")
def platform():
    with PlatformHandle(PlatformState(120, 7, START, D)) as handle:
        yield handle


@pytest.fixture
def env(platform, tmp_path, monkeypatch):
    from zxt.core.settings import reset_settings

    platform.state.set_faults(Faults())
    monkeypatch.setenv("ZXT_LANDING_DIR", str(tmp_path / "landing"))
    monkeypatch.setenv("ZXT_ARCHIVE_DIR", str(tmp_path / "archive"))
    monkeypatch.setenv("ZXT_PLATFORM_URL", platform.url)
    monkeypatch.setenv("ZXT_PLATFORM_PAGE_SIZE", "40")
    monkeypatch.setenv("ZXT_PLATFORM_BACKOFF_S", "0.01")
    monkeypatch.setenv("ZXT_PLATFORM_TIMEOUT_S", "5")
    reset_settings()
    yield tmp_path / "landing"
    reset_settings()


class Clock:
    """Records the waits the client asks for instead of sleeping through them."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def pull(dataset: str = SOURCE, sleep=None):
    from zxt.ingest import pull as pull_mod

    return pull_mod.pull(dataset, D, sleep=sleep or Clock())


def read(landing: Path, result) -> list[dict]:
    with (landing / result.file).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def baseline(env):
    r = pull()
    rows = read(env, r)
    assert r.stats["pages"] > 3 and len(rows) == r.records > 100  # several pages: faults can bite
    (env / r.file).chmod(0o644)
    (env / r.file).unlink()  # each test pulls afresh
    return rows


def test_a_clean_pull_lands_an_immutable_csv_in_the_drop_folder(env):
    r = pull()
    path = env / r.file
    assert path.parent == env / SOURCE / D.isoformat() and path.name.startswith("pull_20261112_")
    assert oct(path.stat().st_mode & 0o777) == "0o444"
    assert next(csv.reader(path.open(encoding="utf-8"))) == ["uscc", "month", "insured_count"]
    again = pull()
    assert (again.file, again.changed) == (r.file, False)  # the same answer is the same file


def test_rate_limits_are_waited_out_as_retry_after_says(env, baseline, platform):
    platform.state.set_faults(Faults(rate_limit_every=2, retry_after_s=7))
    clock = Clock()
    r = pull(sleep=clock)
    assert read(env, r) == baseline
    assert r.stats["rate_limited"] >= 3 and clock.waits.count(7.0) == r.stats["rate_limited"]


def test_server_errors_are_retried_with_growing_backoff(env, baseline, platform):
    platform.state.set_faults(Faults(error_every=3))
    clock = Clock()
    r = pull(sleep=clock)
    assert read(env, r) == baseline and r.stats["retries"] >= 2
    assert all(w == 0.01 for w in clock.waits)  # each failure follows a success: backoff restarts


def test_a_platform_that_stays_down_fails_the_pull_clearly(env, platform):
    from zxt.ingest.platform_client import PullFailed

    platform.state.set_faults(Faults(error_every=1))
    clock = Clock()
    with pytest.raises(PullFailed, match="HTTP 503 after 6 attempts"):
        pull(sleep=clock)
    assert clock.waits == [0.01, 0.02, 0.04, 0.08, 0.16]
    assert not (env / SOURCE / D.isoformat()).exists()  # nothing half-landed


def test_slow_pages_beyond_the_timeout_are_retried_then_refused(env, platform, monkeypatch):
    from zxt.core.settings import reset_settings
    from zxt.ingest.platform_client import PullFailed

    platform.state.set_faults(Faults(slow_page_s=0.5))
    monkeypatch.setenv("ZXT_PLATFORM_TIMEOUT_S", "0.1")
    monkeypatch.setenv("ZXT_PLATFORM_MAX_ATTEMPTS", "2")
    reset_settings()
    with pytest.raises(PullFailed, match="ReadTimeout after 2 attempts"):
        pull()


def test_slow_pages_within_the_timeout_just_take_longer(env, baseline, platform):
    platform.state.set_faults(Faults(slow_page_s=0.05))
    assert read(env, pull()) == baseline


def test_an_expired_cursor_restarts_the_pull_without_duplicates(env, baseline, platform):
    platform.state.set_faults(Faults(expire_cursor_after_pages=2))
    r = pull()
    assert r.stats["restarts"] == 1 and r.stats["duplicates"] == 80  # two pages replayed, dropped
    assert read(env, r) == baseline


def test_records_repeated_across_pages_are_landed_once(env, baseline, platform):
    platform.state.set_faults(Faults(duplicate_overlap=5))
    r = pull()
    assert r.stats["duplicates"] == 5 * (r.stats["pages"] - 1)
    assert read(env, r) == baseline


def test_wrong_credentials_fail_the_pull(env, monkeypatch):
    from zxt.core.settings import reset_settings
    from zxt.ingest.platform_client import PullFailed

    monkeypatch.setenv("ZXT_PLATFORM_CLIENT_SECRET", CLIENT_SECRET + "x")
    reset_settings()
    with pytest.raises(PullFailed, match="refused our credentials"):
        pull()


def test_an_expired_token_is_renewed(env, baseline, platform):
    platform.state.set_faults(Faults(token_ttl_s=0, slow_page_s=0))
    from zxt.ingest.platform_client import PullFailed

    with pytest.raises(PullFailed, match="keeps refusing fresh tokens"):
        pull()  # a token that is never valid: refused, not a loop
    platform.state.set_faults(Faults())
    r = pull()
    assert read(env, r) == baseline and r.stats["tokens"] == 1


def _ingest(landing: Path) -> list[dict]:
    from zxt.ingest import load

    return load.ingest_until(D)


def test_an_added_field_lands_as_a_column_and_is_kept_in_extra(env, platform, clean_warehouse, engine):
    platform.state.set_faults(Faults(add_fields={"insured_type": "城镇职工"}))
    r = pull()
    assert r.columns_added == ["insured_type"]
    [loaded] = _ingest(env)
    assert (loaded["status"], loaded["rows_loaded"], loaded["drift"]) == (
        "loaded",
        r.records,
        {"added": ["insured_type"]},
    )
    with engine.connect() as conn:
        extra = conn.execute(sa.text("select distinct _extra from raw.hr__insured_staff")).scalars().all()
    assert extra == [{"insured_type": "城镇职工"}]


def test_a_renamed_required_field_quarantines_the_pull(env, platform, clean_warehouse, engine):
    platform.state.set_faults(Faults(rename_fields={"insured_count": "staff"}))
    r = pull()
    assert r.columns_missing == ["insured_count"] and r.columns_added == ["staff"]
    [loaded] = _ingest(env)
    assert loaded["status"] == "quarantined" and "insured_count" in loaded["reason"]


def test_a_new_answer_replaces_the_drop_and_ingest_replaces_its_rows(env, platform, clean_warehouse, engine):
    first = pull()
    _ingest(env)
    platform.state.set_faults(Faults(add_fields={"note": "restated"}))
    second = pull()
    assert second.changed and second.replaced == [Path(first.file).name]
    results = _ingest(env)
    assert [r["source_file"] for r in results] == [second.file]
    with engine.connect() as conn:
        files = (
            conn.execute(sa.text("select distinct _source_file from raw.hr__insured_staff")).scalars().all()
        )
        n = conn.execute(sa.text("select count(*) from raw.hr__insured_staff")).scalar()
    assert files == [second.file] and n == second.records


def test_every_external_source_pulls_and_loads(env, platform, clean_warehouse, engine):
    from zxt.ingest import pull as pull_mod

    assert pull_mod.pullable() == [
        "court/dishonest_debtors",
        "customs/credit_ratings",
        "hr/insured_staff",
        "industry/designations",
        "market/abnormal_list",
        "market/registration_changes",
        "market/serious_violations",
        "power/electricity_use",
    ]
    pulled = {name: pull(name).records for name in pull_mod.pullable()}
    loaded = {r["dataset"]: (r["status"], r["rows_loaded"], r["rows_rejected"]) for r in _ingest(env)}
    assert loaded == {name: ("loaded", n, 0) for name, n in pulled.items()}
    assert pulled["hr/insured_staff"] > 0 and pulled["power/electricity_use"] > 0
