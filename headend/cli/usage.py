"""The one exception type for a bad command line: `main` prints it and exits with status 2."""

from __future__ import annotations


class UsageError(Exception):
    """Bad arguments; `main` prints it on one stderr line and exits with status 2."""
