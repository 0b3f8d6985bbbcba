"""The reading service: channel jobs, an executor, per-meter retries, run reports."""

from headend.reading.executor import InProcessExecutor, JobExecutor, Progress
from headend.reading.jobs import ChannelJob, plan_jobs
from headend.reading.meter import read_meter
from headend.reading.report import ChannelReport, MeterReport, MeterStatus, PointFailure, RunReport
from headend.reading.service import ReadingService

__all__ = [
    "ChannelJob",
    "ChannelReport",
    "InProcessExecutor",
    "JobExecutor",
    "MeterReport",
    "MeterStatus",
    "PointFailure",
    "Progress",
    "ReadingService",
    "RunReport",
    "plan_jobs",
    "read_meter",
]
