"""Profile marks: the last capture read per meter and profile, which never moves backwards."""

from __future__ import annotations

from datetime import timedelta

from headend.store import Store
from tests.store.samples import QUARTER, T0


async def test_marks_move_forward_and_never_back(store: Store) -> None:
    await store.mark_profiles("load", {"m1": T0, "m2": T0 + QUARTER})
    await store.mark_profiles("load", {"m1": T0 + 4 * QUARTER, "m2": T0})  # m2: an older read
    assert await store.profile_marks("load", ["m1", "m2", "m3"]) == {
        "m1": T0 + 4 * QUARTER,
        "m2": T0 + QUARTER,
    }
    await store.mark_profiles("load", {})
    assert await store.profile_marks("load", ["m1"]) == {"m1": T0 + 4 * QUARTER}


async def test_marks_are_kept_per_profile(store: Store) -> None:
    await store.mark_profiles("load", {"m1": T0 + timedelta(days=1)})
    await store.mark_profiles("billing", {"m1": T0})
    assert await store.profile_marks("billing", ["m1"]) == {"m1": T0}
    assert await store.profile_marks("load", ["m1"]) == {"m1": T0 + timedelta(days=1)}
    assert await store.profile_marks("power", ["m1"]) == {}


async def test_marks_of_a_whole_fleet_in_one_call(store: Store) -> None:
    marks = {f"m{i:05d}": T0 + (i % 96) * QUARTER for i in range(40_000)}
    await store.mark_profiles("load", marks)
    assert await store.profile_marks("load", list(marks)) == marks
    assert await store.profile_marks("load", []) == {}
