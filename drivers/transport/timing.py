"""Waiting for an absolute loop-time deadline with sub-millisecond precision.

Measured on the paced RS-485 bench (9,600 baud, ~42 ms per exchange): `asyncio.sleep` on the
default epoll event loop wakes on average ~1 ms late (median ~0.85 ms), because the selector
rounds every timeout *up* to a whole millisecond before `epoll_wait` and then the wake-up itself
adds a little. An RTU exchange waits twice — the master for the 3.5-character silence before each
request, the simulated slave for the instant its reply's last character would arrive — so those
overshoots were about 2 ms of the ~3.5 ms per exchange above the frame-time limit.

`sleep_until` arms a Linux `timerfd` at the absolute CLOCK_MONOTONIC deadline and lets the event
loop watch it like any other fd: `epoll` returns as soon as the kernel's high-resolution timer
fires (median overshoot ~0.2 ms), nothing blocks and no CPU is spent spinning. It never returns
before the deadline. Where there is no `timerfd` (not Linux, or a loop without `add_reader`) it
falls back to `asyncio.sleep`, which is only less punctual, never early.

Python 3.13 has `os.timerfd_create`; on 3.11 the three libc calls are made through ctypes.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import math
import os
import sys
import time

_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = getattr(os, "O_CLOEXEC", 0o2000000)
_TFD_TIMER_ABSTIME = 1
_TICK = time.get_clock_info("monotonic").resolution


class _Timespec(ctypes.Structure):
    _fields_ = (("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long))


class _Itimerspec(ctypes.Structure):
    _fields_ = (("it_interval", _Timespec), ("it_value", _Timespec))


def _load_libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        libc.timerfd_create.argtypes = (ctypes.c_int, ctypes.c_int)
        libc.timerfd_create.restype = ctypes.c_int
        libc.timerfd_settime.argtypes = (
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(_Itimerspec),
            ctypes.POINTER(_Itimerspec),
        )
        libc.timerfd_settime.restype = ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _load_libc()


def precise_timers() -> bool:
    """True if `sleep_until` can use a timerfd on this platform."""
    return _LIBC is not None


def _timerfd_at(monotonic_deadline: float) -> int | None:
    """A non-blocking timerfd that becomes readable at `monotonic_deadline`; None if unavailable."""
    if _LIBC is None:
        return None
    fd = int(_LIBC.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC))
    if fd < 0:
        return None
    seconds, nanos = divmod(math.ceil(monotonic_deadline * 1e9), 1_000_000_000)
    spec = _Itimerspec(_Timespec(0, 0), _Timespec(seconds, nanos))
    if _LIBC.timerfd_settime(fd, _TFD_TIMER_ABSTIME, ctypes.byref(spec), None) != 0:
        os.close(fd)
        return None
    return fd


async def _wait_readable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    fired: asyncio.Future[None] = loop.create_future()

    def on_ready() -> None:
        if not fired.done():
            fired.set_result(None)

    try:
        loop.add_reader(fd, on_ready)
    except NotImplementedError:  # e.g. the Windows proactor loop: sleep_until falls back
        return
    try:
        await fired
    finally:
        loop.remove_reader(fd)


async def sleep_until(deadline: float) -> None:
    """Return at or soon after `deadline` (in `loop.time()`), never before it."""
    loop = asyncio.get_running_loop()
    remaining = deadline - loop.time()
    if remaining <= 0:
        return
    fd = _timerfd_at(time.monotonic() + remaining)
    if fd is not None:
        try:
            await _wait_readable(loop, fd)
        finally:
            os.close(fd)
    # The fallback, and a guard should the loop's clock not be CLOCK_MONOTONIC. asyncio runs a
    # timer up to one clock tick early: pad by that tick so "never early" holds here too.
    remaining = deadline - loop.time()
    if remaining > 0:
        await asyncio.sleep(remaining + _TICK)
