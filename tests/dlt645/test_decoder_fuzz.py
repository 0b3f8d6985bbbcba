"""Property tests: the decoder only ever returns frames, None or MalformedFrame, and never hangs."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.dlt645.decoder import FrameDecoder
from drivers.dlt645.frame import Frame, encode_frame
from drivers.errors import MalformedFrame

frames = st.builds(
    Frame,
    address=st.binary(min_size=6, max_size=6),
    control=st.integers(0, 255),
    data=st.binary(max_size=200),
)


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in pairwise(points)]


def drain(decoder: FrameDecoder, budget: list[int]) -> tuple[list[Frame], int]:
    """Call next_frame until it wants more bytes; every call must make progress."""
    out: list[Frame] = []
    errors = 0
    while True:
        budget[0] -= 1
        assert budget[0] >= 0, "decoder made no progress"
        try:
            frame = decoder.next_frame()
        except MalformedFrame:
            errors += 1
            continue
        if frame is None:
            return out, errors
        out.append(frame)


def run(data: bytes, cuts: list[int]) -> tuple[list[Frame], int]:
    decoder = FrameDecoder()
    budget = [2 * len(data) + len(cuts) + 10]  # one call per byte consumed, plus one per chunk
    found: list[Frame] = []
    errors = 0
    for chunk in chunked(data, cuts):
        decoder.feed(chunk)
        got, errs = drain(decoder, budget)
        found += got
        errors += errs
    assert decoder.buffered <= 12 + 200
    return found, errors


@settings(max_examples=300, deadline=None)
@given(st.lists(frames, min_size=1, max_size=4), st.lists(st.integers(0, 2000)), st.integers(0, 9))
def test_round_trip_with_any_chunking_and_preamble(
    sent: list[Frame], cuts: list[int], fe: int
) -> None:
    wire = b"".join(b"\xfe" * fe + encode_frame(f) for f in sent)
    found, errors = run(wire, cuts)
    assert found == sent and errors == 0


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.lists(st.integers(0, 600)))
def test_random_bytes_only_give_typed_errors(data: bytes, cuts: list[int]) -> None:
    run(data, cuts)


@settings(max_examples=300, deadline=None)
@given(
    frames,
    st.lists(st.tuples(st.integers(0, 300), st.integers(0, 255)), min_size=1, max_size=4),
    st.lists(st.integers(0, 300)),
)
def test_mutated_frames_only_give_typed_errors(
    frame: Frame, mutations: list[tuple[int, int]], cuts: list[int]
) -> None:
    wire = bytearray(encode_frame(frame, preamble=True))
    for pos, value in mutations:
        wire[pos % len(wire)] = value
    run(bytes(wire) + encode_frame(frame), cuts)
