"""Differential check: the dbt engine reproduces the ratings that the synthetic county's separate,
plain-Python implementation of the rules (zxt_sandbox.synth.rules) published for 2025 — level and
score, enterprise by enterprise, from what was known on the publication day 2026-04-25."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_dbt_reproduces_the_published_2025_ratings(engine, tmp_path):
    from zxt.core.settings import get_settings
    from zxt_sandbox import differential

    settings = get_settings().with_(
        paths__landing_dir=tmp_path / "landing", paths__archive_dir=tmp_path / "archive"
    )
    result = differential.run(settings, enterprises=1500, year=2025, seed=5)
    assert result.rated > 1000
    # Every level occurs, so agreement is not won on one easy level.
    assert set(result.by_level) == {"A", "B", "M", "C", "D"}, result.by_level
    assert result.rate >= 0.99, result.mismatches[:20]
