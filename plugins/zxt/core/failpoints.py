"""Named crash points for crash tests: ``ZXT_FAILPOINT=<name>`` kills the process there with SIGKILL.

Crash safety can only be shown by really dying at the dangerous moments (between a send and the
commit that records it). A test starts the real process with the variable set; unset (always in
production) a failpoint costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "ZXT_FAILPOINT"


def hit(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
