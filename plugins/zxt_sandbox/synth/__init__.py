"""Synthetic Guangshui (Hubei) county landing zone, for demos, tests and benchmarks.

``generate`` writes one drop per business date D in [start, end] in the layout of
the landing contracts (``zxt/ingest/landing/*.yml``)::

    <out_dir>/<system>/<dataset>/<YYYY-MM-DD>/<dataset>_<YYYYMMDD>.csv

* Snapshot datasets (tax/taxpayers, tax/obligations, credit/ratings, bank/authorisations): every drop
  holds the full state as known on D.
* Delta datasets (tax/filings, contact/consents): the ``start`` drop holds the whole history (filings
  filed from ``start - history_years`` up to and including ``start``; all consent events up to
  ``start``); each later drop holds only the events dated D (late filings of old periods included).

The county is a function of ``(seed, enterprises, start, history_years)`` alone: ``end`` only decides
how many drops are written, so a longer run reproduces a shorter run's drops byte for byte. Every
enterprise has its own RNGs derived from ``(seed, index)``; nothing reads the global ``random`` or the
clock. Generation streams: one enterprise at a time, straight into one open writer per file.
"""

from zxt_sandbox.synth.common import filing_deadline, load_deadlines
from zxt_sandbox.synth.writer import DatasetCount, SynthSummary, drop_file, generate

__all__ = ["DatasetCount", "SynthSummary", "drop_file", "filing_deadline", "generate", "load_deadlines"]
