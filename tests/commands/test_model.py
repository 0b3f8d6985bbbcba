"""A command request checks its own fields: one target, the values its action needs and no
others, a priority 0..9, an id of 1..128 printable characters, an aware expiry."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from headend.commands.model import CommandAction, CommandRecord, CommandRequest, CommandState

BASE: dict[str, Any] = {"meter": "m1", "reason": "test", "requester": "tester"}


def make(**fields: Any) -> CommandRequest:
    return CommandRequest.model_validate({**BASE, "action": "disconnect", **fields})


def test_a_plain_request_gets_an_id_and_the_default_priority() -> None:
    one, two = make(), make()
    assert one.id != two.id and len(one.id) == 32
    assert one.priority == 5 and one.expires_at is None
    assert one.target == "m1"
    assert make(meter=None, group="street").target == "group street"


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"meter": None}, "exactly one target"),
        ({"group": "street"}, "exactly one target"),
        ({"action": "limit"}, "needs limit_w"),
        ({"action": "limit", "limit_w": "-1"}, "greater than or equal to 0"),
        ({"action": "limit", "limit_w": "NaN"}, "finite"),
        ({"action": "limit", "limit_w": "100", "lease_s": 0}, "greater than 0"),
        ({"limit_w": "100"}, "for a limit command"),
        ({"lease_s": 60}, "for a limit command"),
        ({"action": "tariff"}, "needs tariff"),
        ({"tariff": "night"}, "for a tariff command"),
        ({"priority": 10}, "less than or equal to 9"),
        ({"priority": -1}, "greater than or equal to 0"),
        ({"id": ""}, "should match pattern"),
        ({"id": "has space"}, "should match pattern"),
        ({"id": "x" * 129}, "should match pattern"),
        ({"id": "tab\there"}, "should match pattern"),
        ({"reason": ""}, "at least 1 character"),
        ({"requester": ""}, "at least 1 character"),
        ({"expires_at": datetime(2026, 1, 1)}, "timezone"),
        ({"action": "explode"}, "Input should be"),
        ({"colour": "red"}, "Extra inputs"),
    ],
)
def test_bad_requests_are_refused_with_the_reason(fields: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        make(**fields)


def test_each_action_takes_its_values() -> None:
    limit = make(action="limit", limit_w="1500.5", lease_s=900)
    assert limit.limit_w == Decimal("1500.5") and limit.lease_s == 900
    assert make(action="tariff", tariff="night-saver").tariff == "night-saver"
    for action in ("reconnect", "release", "sync"):
        assert make(action=action).action is CommandAction(action)
    assert make(id="x" * 128).id == "x" * 128


def test_a_record_keeps_the_request_and_is_frozen() -> None:
    request = make(id="c1", expires_at=datetime(2026, 1, 1, tzinfo=UTC))
    now = datetime(2025, 12, 31, tzinfo=UTC)
    record = CommandRecord.model_validate(
        {
            **request.model_dump(),
            "id": "c1/" + "m" * 200,  # a group's child may be longer than a request's id
            "state": "sent",
            "created_at": now,
            "updated_at": now,
        }
    )
    assert record.state is CommandState.SENT and not record.final
    assert record.model_copy(update={"state": CommandState.ARMED}).final
    with pytest.raises(ValidationError):
        record.state = CommandState.FAILED  # type: ignore[misc]
    assert record.reason == "test" and record.expires_at == request.expires_at
