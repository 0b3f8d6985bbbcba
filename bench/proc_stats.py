"""What a benchmark reads from /proc about the processes it started and about the machine: CPU
seconds of a process (and of a server's whole process tree), peak RSS, and how busy the cores
were over an interval."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    # the command name may hold spaces and parentheses: the fields start after the last ")"
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_s(pid: int) -> float:
    """A live process's user + system CPU seconds."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / TICK


def tree_cpu_s(pid: int) -> float:
    """A server's CPU seconds with its children's: the children alive now and those it has
    reaped (cutime + cstime), as PostgreSQL's postmaster and its backends. 0.0 once it is gone."""
    try:
        fields = _stat_fields(pid)
    except OSError:
        return 0.0
    total = sum(int(x) for x in fields[11:15])
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            child = _stat_fields(int(entry.name))
        except OSError:  # exited meanwhile
            continue
        if int(child[1]) == pid:
            total += int(child[11]) + int(child[12])
    return total / TICK


def peak_rss_mb(pid: int) -> float:
    """A live process's VmHWM (wait4's ru_maxrss would also count what a child shared with its
    parent before exec)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def or_zero(read: Callable[[int], float], pid: int) -> float:
    """`read(pid)` (`cpu_s`, `peak_rss_mb`), or 0.0 once the process is gone: for a bench that
    samples a child which may exit between two samples."""
    try:
        return read(pid)
    except OSError:
        return 0.0


@dataclass(frozen=True)
class CpuTimes:
    """The machine's CPU time counters (/proc/stat, all cores), in ticks."""

    busy: int
    total: int

    @classmethod
    def now(cls) -> CpuTimes:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
        ticks = [int(x) for x in first[1:9]]  # user nice system idle iowait irq softirq steal
        idle = ticks[3] + ticks[4]
        return cls(busy=sum(ticks) - idle, total=sum(ticks))

    def busy_share(self, since: CpuTimes) -> float:
        """The share of all cores' time spent busy since `since` (1.0: every core all along)."""
        total = self.total - since.total
        return (self.busy - since.busy) / total if total > 0 else 0.0
