"""Property tests for the sans-IO framers: HDLC and the IEC 62056-47 wrapper.

Whatever arrives, in whatever chunks, only `MalformedFrame` may escape and draining terminates.
"""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.dlms.hdlc.address import HdlcAddress
from drivers.dlms.hdlc.decoder import HdlcFrameDecoder
from drivers.dlms.hdlc.frames import FrameKind, HdlcFrame
from drivers.dlms.wrapper import WrapperDecoder, WrapperFrame, encode_wrapper
from drivers.errors import MalformedFrame

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

addresses = st.one_of(
    st.builds(HdlcAddress, st.integers(0, 0x7F)),
    st.builds(HdlcAddress, st.integers(0, 0x7F), st.integers(0, 0x7F)),
    st.builds(HdlcAddress, st.integers(0, 0x3FFF), st.integers(0, 0x3FFF), st.just(4)),
)


@st.composite
def hdlc_frames(draw: st.DrawFn) -> HdlcFrame:
    kind = draw(st.sampled_from(list(FrameKind)))
    carries_info = kind in (FrameKind.I, FrameKind.UI, FrameKind.SNRM, FrameKind.UA)
    return HdlcFrame(
        kind=kind,
        destination=draw(addresses),
        source=draw(addresses),
        info=draw(st.binary(max_size=140)) if carries_info else b"",
        poll_final=draw(st.booleans()),
        segmented=draw(st.booleans()),
        send_seq=draw(st.integers(0, 7)) if kind is FrameKind.I else 0,
        recv_seq=draw(st.integers(0, 7))
        if kind in (FrameKind.I, FrameKind.RR, FrameKind.RNR)
        else 0,
    )


@st.composite
def chunked(draw: st.DrawFn, data: bytes) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "delete", "insert", "flag"]))
        at = draw(st.integers(0, max(len(buf) - 1, 0)))
        if op == "flip" and buf:
            buf[at] ^= draw(st.integers(1, 255))
        elif op == "delete" and buf:
            del buf[at]
        elif op == "insert":
            buf.insert(at, draw(st.integers(0, 255)))
        else:
            buf.insert(at, 0x7E)
    return bytes(buf)


def drain_hdlc(decoder: HdlcFrameDecoder) -> list[HdlcFrame]:
    """Take every frame out; each call must shrink the buffer or report that it needs more."""
    frames: list[HdlcFrame] = []
    while True:
        before = decoder.pending
        try:
            frame = decoder.next_frame()
        except MalformedFrame:
            assert decoder.pending < before
            continue
        if frame is None:
            return frames
        assert decoder.pending < before
        frames.append(frame)


def feed_hdlc(chunks: list[bytes], max_info: int = 128) -> list[HdlcFrame]:
    decoder = HdlcFrameDecoder(max_info)
    frames = []
    for chunk in chunks:
        decoder.feed(chunk)
        frames += drain_hdlc(decoder)
    return frames


@SETTINGS
@given(st.data(), st.binary(max_size=600))
def test_hdlc_random_bytes(data, raw):
    feed_hdlc(data.draw(chunked(raw)))


@SETTINGS
@given(st.data(), st.lists(hdlc_frames(), min_size=1, max_size=4))
def test_hdlc_valid_frames_in_any_chunking_come_back(data, frames):
    wire = b"".join(frame.encode() for frame in frames)
    assert feed_hdlc(data.draw(chunked(wire)), max_info=256) == frames


@SETTINGS
@given(st.data(), st.lists(hdlc_frames(), min_size=1, max_size=4))
def test_hdlc_mutated_frames(data, frames):
    wire = data.draw(mutated(b"".join(frame.encode() for frame in frames)))
    decoded = feed_hdlc(data.draw(chunked(wire)), max_info=256)
    # a frame is at least 9 bytes with its flags, but two frames may share the flag between them
    # (IEC 62056-46 allows one flag to close a frame and open the next): n frames need 8n + 1
    assert len(decoded) <= (len(wire) - 1) // 8


def drain_wrapper(decoder: WrapperDecoder) -> list[WrapperFrame]:
    """Frames until more bytes are needed; a MalformedFrame ends the stream (the server closes)."""
    frames = []
    while (frame := decoder.next_frame()) is not None:
        frames.append(frame)
    return frames


def feed_wrapper(chunks: list[bytes]) -> list[WrapperFrame]:
    decoder = WrapperDecoder(max_apdu=2048)
    frames: list[WrapperFrame] = []
    try:
        for chunk in chunks:
            decoder.feed(chunk)
            frames += drain_wrapper(decoder)
    except MalformedFrame:
        pass
    return frames


wrapper_frames = st.builds(
    WrapperFrame, st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.binary(max_size=300)
)


@SETTINGS
@given(st.data(), st.binary(max_size=600))
def test_wrapper_random_bytes(data, raw):
    feed_wrapper(data.draw(chunked(raw)))


@SETTINGS
@given(st.data(), st.lists(wrapper_frames, min_size=1, max_size=4))
def test_wrapper_valid_frames_in_any_chunking_come_back(data, frames):
    wire = b"".join(encode_wrapper(frame) for frame in frames)
    assert feed_wrapper(data.draw(chunked(wire))) == frames


@SETTINGS
@given(st.data(), st.lists(wrapper_frames, min_size=1, max_size=4))
def test_wrapper_mutated_frames(data, frames):
    wire = data.draw(mutated(b"".join(encode_wrapper(frame) for frame in frames)))
    feed_wrapper(data.draw(chunked(wire)))
