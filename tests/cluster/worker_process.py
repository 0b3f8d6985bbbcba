"""A cluster worker in its own process, for the tests that kill one with SIGKILL.

`python -m tests.cluster.worker_process NATS_URL WORKER_ID`: runs a ClusterWorker whose job
runner (a stand-in: the runner is not under test) prints `RUNNING <job id>` and then never
finishes, so the test can kill the process in the middle of a job.
"""

from __future__ import annotations

import asyncio
import sys

from headend.cluster.connection import open_cluster
from headend.cluster.settings import ClusterSettings
from headend.cluster.worker import ClusterWorker
from headend.reading.executor import Progress
from headend.reading.jobs import ChannelJob
from headend.reading.report import ChannelReport
from tests.cluster.conftest import SITE, short_settings


class Hanging:
    async def run(self, job: ChannelJob, progress: Progress | None = None) -> ChannelReport:
        print(f"RUNNING {job.job_id}", flush=True)
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def main(url: str, worker_id: str) -> None:
    settings: ClusterSettings = short_settings(url)
    cluster = await open_cluster(settings, SITE, environ={})
    await ClusterWorker(cluster, Hanging(), worker_id=worker_id).run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
