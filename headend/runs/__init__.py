"""Collection runs: the statistics of each plan run and the daily success rate per plan."""

from headend.runs.model import DailyRate, RunStats, RunTrigger

__all__ = ["DailyRate", "RunStats", "RunTrigger"]
