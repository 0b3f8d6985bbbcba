"""The command contract's issue-9 fields: lease, tariff, armed; old callers unchanged."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from drivers.contract import Command, CommandKind, CommandResult


def test_old_commands_and_results_keep_their_meaning() -> None:
    command = Command(kind=CommandKind.SET_LOAD_LIMIT, limit_w=Decimal(1500))
    assert command.lease_s is None and command.tariff is None
    result = CommandResult(
        command_id=command.id, meter_id="M1", ok=True, completed_at=datetime.now(UTC)
    )
    assert result.armed is False


def test_lease_is_a_positive_number_of_seconds() -> None:
    leased = Command(kind=CommandKind.SET_LOAD_LIMIT, limit_w=Decimal(900), lease_s=300)
    assert leased.lease_s == 300
    for bad in (0, -5):
        with pytest.raises(ValidationError):
            Command(kind=CommandKind.SET_LOAD_LIMIT, limit_w=Decimal(900), lease_s=bad)


def test_set_tariff_names_the_programme_and_results_say_armed() -> None:
    command = Command(kind=CommandKind.SET_TARIFF, tariff="FLAT")
    assert command.kind == "set_tariff" and command.tariff == "FLAT"
    armed = CommandResult(
        command_id="c1", meter_id="M1", ok=True, armed=True, completed_at=datetime.now(UTC)
    )
    assert CommandResult.model_validate_json(armed.model_dump_json()).armed is True
