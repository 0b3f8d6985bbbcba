"""The `headend` command-line interface."""
