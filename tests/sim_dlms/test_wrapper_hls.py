"""HLS-GMAC (client 1) with suite 0 global ciphering, read by dlms-cosem's own client."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from dlms_cosem import enumerations as enums
from dlms_cosem.client import DlmsClient
from dlms_cosem.exceptions import DlmsClientException

from drivers.sim.dlms_sim import DlmsMeterSecrets, DlmsSimulator
from drivers.sim.physics import SimulatedMeter
from tests.sim_dlms import cosem_reads as r
from tests.sim_dlms.conftest import START, hls, wrapper_client

MANAGEMENT = 1
SECRETS = DlmsMeterSecrets(
    password=b"abcdefgh",
    system_title=b"SIMMETER",
    auth_key=bytes(range(0x40, 0x50)),
    block_key=bytes(range(0x60, 0x70)),
)
KEYS = (SECRETS.block_key, SECRETS.auth_key)


@pytest.fixture
async def secured(sim: DlmsSimulator) -> int:
    sim.add_meter(SimulatedMeter("H1", sim.clock, seed=7), SECRETS)
    return await sim.serve_wrapper("H1")


def _associate(client: DlmsClient) -> str:
    """Try to associate; the refusal text, or '' when accepted."""
    client.connect()
    try:
        client.associate()
        client.release_association()
        return ""
    except DlmsClientException as exc:
        return f"DlmsClientException: {exc}"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        client.disconnect()


def test_secrets_repr_hides_keys() -> None:
    text = repr(SECRETS)
    assert "SIMMETER" in text
    for secret in (SECRETS.password, SECRETS.auth_key, SECRETS.block_key):
        assert repr(secret) not in text and secret.hex() not in text


async def test_hls_ciphered_session_reads_sets_and_acts(sim: DlmsSimulator, secured: int) -> None:
    meter = sim.meter("H1")
    new_time = START + timedelta(minutes=3)
    start, end = START - timedelta(hours=6), START

    def run() -> tuple[tuple[int, int, int], list[list[object]], object, object]:
        client = wrapper_client(secured, MANAGEMENT, auth=hls(), keys=KEYS, max_pdu=256)
        with client.session():
            energy = r.read_register(client, "1.0.1.8.0.255")
            rows = r.profile_range(client, start, end)  # longer than 256 bytes: blocks
            clock_result = r.set_clock(client, new_time)
            limit_result = r.set_limit(client, 2000)
            r.disconnector(client, 1)
        return energy, rows, clock_result, limit_result

    energy, rows, clock_result, limit_result = await asyncio.to_thread(run)
    assert energy[1:] == (0, 30)
    assert len(rows) == len(meter.profile_rows(start, end)) == 25
    assert clock_result.result == enums.DataAccessResult.SUCCESS
    assert limit_result.result == enums.DataAccessResult.SUCCESS
    assert meter.now() == new_time
    assert meter.limit_w == 2000
    assert not meter.connected


async def test_hls_replies_are_general_glo_ciphered(sim: DlmsSimulator, secured: int) -> None:
    def run() -> tuple[int, int]:
        client = wrapper_client(secured, MANAGEMENT, auth=hls(), keys=KEYS)
        with client.session():
            first = client.dlms_connection.meter_invocation_counter
            r.read_register(client, "1.0.1.8.0.255")
            return first, client.dlms_connection.meter_invocation_counter

    first, later = await asyncio.to_thread(run)
    # dlms-cosem only accepts a ciphered reply whose counter grows; two GETs add two
    assert first >= 1 and later == first + 2


async def test_wrong_block_key_fails_the_association(secured: int) -> None:
    wrong = (bytes(16), SECRETS.auth_key)
    refused = await asyncio.to_thread(
        _associate, wrapper_client(secured, MANAGEMENT, auth=hls(), keys=wrong)
    )
    assert "REJECTED_PERMANENT" in refused
    assert "extra info: 6" in refused  # ConfirmedServiceError: deciphering error


async def test_wrong_authentication_key_fails(secured: int) -> None:
    wrong = (SECRETS.block_key, bytes(16))
    refused = await asyncio.to_thread(
        _associate, wrapper_client(secured, MANAGEMENT, auth=hls(), keys=wrong)
    )
    assert refused  # the AAD includes the authentication key: nothing deciphers


async def test_replayed_invocation_counter_is_rejected(secured: int) -> None:
    title = b"REPLAY01"
    first = await asyncio.to_thread(
        _associate, wrapper_client(secured, MANAGEMENT, auth=hls(), keys=KEYS, title=title)
    )
    assert first == ""
    # A new client with the same system title starting again from counter 0: a replay.
    replay = await asyncio.to_thread(
        _associate, wrapper_client(secured, MANAGEMENT, auth=hls(), keys=KEYS, title=title)
    )
    assert "REJECTED_PERMANENT" in replay
    # Continuing above the last counter is fine.
    again = await asyncio.to_thread(
        _associate,
        wrapper_client(secured, MANAGEMENT, auth=hls(), keys=KEYS, title=title, counter=100),
    )
    assert again == ""


async def test_unciphered_request_on_management_client_is_refused(secured: int) -> None:
    refused = await asyncio.to_thread(_associate, wrapper_client(secured, MANAGEMENT))
    assert "APPLICATION_CONTEXT_NAME_NOT_SUPPORTED" in refused
