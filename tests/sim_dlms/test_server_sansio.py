"""The sans-IO COSEM server driven by dlms-cosem's sans-IO `DlmsConnection`, no sockets at all:
refusals and corner cases that are awkward to provoke through the blocking client."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from dlms_cosem import cosem, dlms_data, security, utils
from dlms_cosem import enumerations as enums
from dlms_cosem import state as dlms_state
from dlms_cosem.connection import DlmsConnection
from dlms_cosem.protocol import xdlms

from drivers.dlms.link import ServerAddress
from drivers.dlms.server import CosemDevice, CosemServer, DlmsMeterSecrets, apdus
from drivers.sim.clock import SimClock
from drivers.sim.cosem import MeterObjects
from drivers.sim.physics import SimulatedMeter
from tests.sim_dlms.conftest import START

SECRETS = DlmsMeterSecrets(system_title=b"SIMUNIT1")
TITLE = b"UNITTEST"


@pytest.fixture
def meter() -> SimulatedMeter:
    return SimulatedMeter("U1", SimClock(start=START, factor=0.0), seed=5)


@pytest.fixture
def device(meter: SimulatedMeter) -> CosemDevice:
    return CosemDevice(MeterObjects(meter), SECRETS)


@pytest.fixture
def server(device: CosemDevice) -> CosemServer:
    return CosemServer(lambda address: device if address.logical == 1 else None)


class Peer:
    """A dlms-cosem connection talking to the server through `handle`."""

    def __init__(self, server: CosemServer, client: int, connection: DlmsConnection) -> None:
        self.server = server
        self.address = ServerAddress(client=client, logical=1)
        self.connection = connection
        self.last_request = b""

    def exchange(self, event: Any) -> Any:
        self.last_request = self.connection.send(event)
        reply = self.server.handle(self.address, self.last_request)
        assert reply is not None
        self.connection.receive_data(reply)
        return self.connection.next_event()

    def raw(self, apdu: bytes) -> bytes:
        reply = self.server.handle(self.address, apdu)
        assert reply is not None
        return reply


def public(server: CosemServer) -> Peer:
    peer = Peer(
        server,
        16,
        DlmsConnection(
            authentication=security.NoSecurityAuthentication(), client_system_title=TITLE
        ),
    )
    aare = peer.exchange(peer.connection.get_aarq())
    assert aare.result == enums.AssociationResult.ACCEPTED
    return peer


def management(server: CosemServer, *, auth_key: bytes = SECRETS.auth_key) -> Peer:
    auth = security.HighLevelSecurityGmacAuthentication(challenge_length=16)
    connection = DlmsConnection(
        authentication=auth,
        global_encryption_key=SECRETS.block_key,
        global_authentication_key=auth_key,
        client_system_title=TITLE,
    )
    return Peer(server, 1, connection)


def attribute(class_id: int, obis: str, attr: int) -> cosem.CosemAttribute:
    return cosem.CosemAttribute(
        enums.CosemInterface(class_id), cosem.Obis(*(int(p) for p in obis.split("."))), attr
    )


def test_unknown_logical_device_is_silent(server: CosemServer) -> None:
    assert server.handle(ServerAddress(16, 5), b"\x60\x00") is None


def test_request_without_association_is_an_exception_response(server: CosemServer) -> None:
    get = xdlms.GetRequestNormal(attribute(3, "1.0.1.8.0.255", 2)).to_bytes()
    reply = server.handle(ServerAddress(16, 1), get)
    assert reply is not None
    response = xdlms.ExceptionResponse.from_bytes(reply)
    assert response.service_error == enums.ServiceException.OPERATION_NOT_POSSIBLE


@pytest.mark.parametrize(
    "apdu",
    [b"", b"\x00", b"\xc0", b"\xc0\x01", b"\xc0\x07\x41", b"\xc1\x01\x41\x00", b"\x60\x03\xa1"],
)
def test_garbage_requests_get_typed_refusals(server: CosemServer, apdu: bytes) -> None:
    public(server)
    reply = server.handle(ServerAddress(16, 1), apdu)
    assert reply is not None and reply[0] in (apdus.EXCEPTION_RESPONSE, apdus.AARE)


def test_get_with_list_mixes_values_and_errors(server: CosemServer, meter: SimulatedMeter) -> None:
    peer = public(server)
    request = xdlms.GetRequestWithList(
        cosem_attributes_with_selection=[
            cosem.CosemAttributeWithSelection(attribute(3, "1.0.1.8.0.255", 2), None),
            cosem.CosemAttributeWithSelection(attribute(3, "1.0.9.9.9.255", 2), None),
            cosem.CosemAttributeWithSelection(attribute(8, "0.0.1.0.0.255", 2), None),
        ]
    )
    reply = xdlms.GetResponseWithList.from_bytes(peer.raw(request.to_bytes()))
    energy, missing, clock = reply.result
    assert energy == int(meter.value("1.0.1.8.0.255"))
    assert missing == enums.DataAccessResult.OBJECT_UNDEFINED
    assert len(clock) == 12


def test_class_mismatch_and_secret_are_refused(server: CosemServer) -> None:
    peer = public(server)
    wrong_class = peer.exchange(xdlms.GetRequestNormal(attribute(4, "1.0.1.8.0.255", 2)))
    assert wrong_class.error == enums.DataAccessResult.OBJECT_CLASS_INCONSISTENT
    secret = peer.exchange(xdlms.GetRequestNormal(attribute(15, "0.0.40.0.0.255", 7)))
    assert secret.error == enums.DataAccessResult.READ_WRITE_DENIED


def test_event_log_records_a_disconnect(server: CosemServer, meter: SimulatedMeter) -> None:
    meter.disconnect()
    peer = public(server)
    # IDIS: relay events go to the disconnector control log
    response = peer.exchange(xdlms.GetRequestNormal(attribute(7, "0.0.99.98.2.255", 2)))
    rows = utils.parse_as_dlms_data(response.data)
    assert [row[1] for row in rows][-1] == 62  # remote disconnection


def test_block_number_out_of_sequence_aborts(server: CosemServer) -> None:
    peer = Peer(
        server,
        16,
        DlmsConnection(
            authentication=security.NoSecurityAuthentication(),
            client_system_title=TITLE,
            max_pdu_size=128,
        ),
    )
    peer.exchange(peer.connection.get_aarq())
    first = peer.exchange(xdlms.GetRequestNormal(attribute(7, "1.0.99.1.0.255", 2)))
    assert isinstance(first, xdlms.GetResponseWithBlock) and first.block_number == 1
    wrong = xdlms.GetRequestNext(block_number=5).to_bytes()
    response = xdlms.GetResponseFactory.from_bytes(peer.raw(wrong))
    assert isinstance(response, xdlms.GetResponseLastBlockWithError)
    assert response.error == enums.DataAccessResult.DATA_BLOCK_NUMBER_INVALID
    again = xdlms.GetResponseFactory.from_bytes(peer.raw(wrong))
    assert again.error == enums.DataAccessResult.NO_LONG_GET_IN_PROGRESS


def test_entry_descriptor_selects_rows_and_columns(
    server: CosemServer, meter: SimulatedMeter
) -> None:
    peer = public(server)
    head = bytes([0xC0, 1, 0xC1]) + attribute(7, "1.0.99.1.0.255", 2).to_bytes()
    entry = dlms_data.DataStructure(
        [
            dlms_data.DoubleLongUnsignedData(2),
            dlms_data.DoubleLongUnsignedData(4),
            dlms_data.UnsignedLongData(2),
            dlms_data.UnsignedLongData(2),
        ]
    )
    reply = xdlms.GetResponseFactory.from_bytes(peer.raw(head + b"\x01\x02" + entry.to_bytes()))
    rows = utils.parse_as_dlms_data(reply.data)
    expected = list(meter.load_profile)[1:4]
    assert rows == [[int(row.import_wh)] for row in expected]


def test_hls_with_wrong_gmac_is_denied_and_nothing_else_is_served(server: CosemServer) -> None:
    peer = management(server, auth_key=bytes(16))
    aare = peer.exchange(peer.connection.get_aarq())
    # A wrong authentication key already fails to decipher the InitiateRequest.
    assert aare.result == enums.AssociationResult.REJECTED_PERMANENT


def test_hls_reply_with_bad_signature_fails(server: CosemServer) -> None:
    peer = management(server)
    aare = peer.exchange(peer.connection.get_aarq())
    assert aare.result == enums.AssociationResult.ACCEPTED
    forged = dlms_data.OctetStringData(b"\x10" + bytes(4) + bytes(12)).to_bytes()
    method = cosem.CosemMethod(enums.CosemInterface.ASSOCIATION_LN, cosem.Obis(0, 0, 40, 0, 0), 1)
    response = peer.exchange(xdlms.ActionRequestNormal(cosem_method=method, data=forged))
    assert response.status == enums.ActionResultStatus.READ_WRITE_DENIED
    # Without a successful HLS nothing is readable (the client's own state machine would not
    # even send this: force it).
    peer.connection.state.current_state = dlms_state.READY
    response = peer.exchange(xdlms.GetRequestNormal(attribute(3, "1.0.1.8.0.255", 2)))
    assert response.error == enums.DataAccessResult.READ_WRITE_DENIED


def test_replayed_ciphered_request_gets_invocation_counter_error(server: CosemServer) -> None:
    peer = management(server)
    peer.exchange(peer.connection.get_aarq())
    reply_data = peer.connection.authentication.hls_generate_reply_data(peer.connection)
    method = cosem.CosemMethod(enums.CosemInterface.ASSOCIATION_LN, cosem.Obis(0, 0, 40, 0, 0), 1)
    hls = peer.exchange(
        xdlms.ActionRequestNormal(
            cosem_method=method, data=dlms_data.OctetStringData(reply_data).to_bytes()
        )
    )
    assert hls.status == enums.ActionResultStatus.SUCCESS
    peer.exchange(xdlms.GetRequestNormal(attribute(3, "1.0.1.8.0.255", 2)))
    replayed = peer.raw(peer.last_request)
    response = xdlms.ExceptionResponse.from_bytes(replayed)
    assert response.service_error == enums.ServiceException.INVOCATION_COUNTER_ERROR


def test_clock_set_moves_the_meter_time(server: CosemServer, meter: SimulatedMeter) -> None:
    peer = Peer(
        server,
        17,
        DlmsConnection(
            authentication=security.LowLevelSecurityAuthentication(b"12345678"),
            client_system_title=TITLE,
        ),
    )
    peer.exchange(peer.connection.get_aarq())
    when = START + timedelta(hours=1)
    data = dlms_data.OctetStringData(
        bytes.fromhex("07e9030a01") + bytes([13, 0, 0, 0]) + b"\x00\x00\x00"
    ).to_bytes()
    response = peer.exchange(xdlms.SetRequestNormal(attribute(8, "0.0.1.0.0.255", 2), data))
    assert response.result == enums.DataAccessResult.SUCCESS
    assert meter.now() == when


def test_ciphered_set_longer_than_127_bytes_is_understood(
    server: CosemServer, device: CosemDevice
) -> None:
    peer = management(server)
    peer.exchange(peer.connection.get_aarq())
    reply_data = peer.connection.authentication.hls_generate_reply_data(peer.connection)
    method = cosem.CosemMethod(enums.CosemInterface.ASSOCIATION_LN, cosem.Obis(0, 0, 40, 0, 0), 1)
    peer.exchange(
        xdlms.ActionRequestNormal(
            cosem_method=method, data=dlms_data.OctetStringData(reply_data).to_bytes()
        )
    )
    long_value = dlms_data.OctetStringData(bytes(150)).to_bytes()
    response = peer.exchange(xdlms.SetRequestNormal(attribute(1, "0.0.96.1.0.255", 2), long_value))
    # Understood (deciphered and parsed): the serial number is read-only.
    assert response.result == enums.DataAccessResult.READ_WRITE_DENIED
