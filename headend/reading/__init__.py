"""The reading service: channel jobs, an executor running them through channels (turns, breakers,
lanes), per-meter retries at the back of the channel's queue, run reports, readings kept when the
store fails."""

from headend.reading.executor import InProcessExecutor, JobExecutor, Progress
from headend.reading.jobs import ChannelJob, plan_jobs
from headend.reading.meter import read_meter
from headend.reading.report import ChannelReport, MeterReport, MeterStatus, PointFailure, RunReport
from headend.reading.saving import BatchSink, RunFailed, Saver
from headend.reading.service import ReadingService

__all__ = [
    "BatchSink",
    "ChannelJob",
    "ChannelReport",
    "InProcessExecutor",
    "JobExecutor",
    "MeterReport",
    "MeterStatus",
    "PointFailure",
    "Progress",
    "ReadingService",
    "RunFailed",
    "RunReport",
    "Saver",
    "plan_jobs",
    "read_meter",
]
