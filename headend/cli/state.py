"""Per-user state of the CLI: where an ad-hoc `headend read URL` keeps invocation counters.

A ciphered DLMS meter refuses an invocation counter it has already seen, and AES-GCM must never
see one nonce twice, so counters outlive the process even without a site database. They go to
`$XDG_STATE_HOME/headend/counters.sqlite3` (XDG Base Directory spec; default
`~/.local/state/headend/counters.sqlite3`), a `SqliteStore` used for counters only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

COUNTERS_FILE = "counters.sqlite3"


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    """`$XDG_STATE_HOME/headend`, or `~/.local/state/headend` when it is unset or relative."""
    environ = os.environ if env is None else env
    base = environ.get("XDG_STATE_HOME", "")
    # the spec says a relative path is invalid and must be ignored
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "state"
    return root / "headend"


def counters_path(env: Mapping[str, str] | None = None) -> Path:
    return state_dir(env) / COUNTERS_FILE
