"""The head-end service: what to read and command, when, and what to do with the answer."""
