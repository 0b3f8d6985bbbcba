"""The process's open-files limit: raised to the hard limit, and the sessions it can carry.

Every session in flight holds a socket or a port (one descriptor), on top of what the process
keeps open anyway (store, logs, the event loop). A fleet larger than the limit is read in waves
by bounding sessions in flight, never by running into EMFILE.
"""

from __future__ import annotations

import logging
import resource

LOG = logging.getLogger(__name__)

RESERVED_FDS = 64
"""Descriptors kept for everything but sessions (database, logs, the loop, a proxy or two)."""


def raise_open_files_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit where allowed; returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft if soft != resource.RLIM_INFINITY else target
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:
        LOG.warning("cannot raise the open-files limit from %d to %d: %s", soft, target, exc)
        return soft
    return target


def session_bound(max_sessions: int, open_files: int | None = None) -> int:
    """`max_sessions`, lowered (with a warning) to what the open-files limit can carry."""
    limit = raise_open_files_limit() if open_files is None else open_files
    fits = max(1, limit - RESERVED_FDS)
    if max_sessions > fits:
        LOG.warning(
            "reading.max_sessions = %d is more than the open-files limit (%d) allows; "
            "reading with at most %d sessions in flight",
            max_sessions,
            limit,
            fits,
        )
        return fits
    return max_sessions
