"""C-FIND's pending responses as bytes: the command set pynetdicom would send, and P-DATA-TF
PDUs framed per PS3.8 (PDV headers, message control bits, the peer's maximum length), read
back here from the raw bytes."""

import struct
from io import BytesIO

import pytest
from pynetdicom.dimse_messages import C_FIND_RSP
from pynetdicom.dimse_primitives import C_FIND
from pynetdicom.pdu import P_DATA_TF

from dicomnet import pending

STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"


def pdus(stream: bytes) -> list[list[tuple[int, int, bytes]]]:
    """Each PDU's presentation data value items, as pynetdicom's decoder reads them: (context
    id, message control header, fragment)."""
    found = []
    while stream:
        kind, _, length = struct.unpack(">BBI", stream[:6])
        assert kind == 0x04  # P-DATA-TF
        assert len(stream) >= 6 + length
        pdu = P_DATA_TF()
        pdu.decode(stream[: 6 + length])
        stream = stream[6 + length :]
        items = [
            (item.presentation_context_id, item.presentation_data_value[0],
             item.presentation_data_value[1:])
            for item in pdu.presentation_data_value_items
        ]  # fmt: skip
        assert sum(6 + len(fragment) for _, _, fragment in items) == length
        found.append(items)
    return found


def test_command_set_is_pynetdicoms():
    primitive = C_FIND()
    primitive.MessageIDBeingRespondedTo = 7
    primitive.AffectedSOPClassUID = STUDY_ROOT_FIND
    primitive.Status = 0xFF00
    primitive.Identifier = BytesIO(b"\x08\x00\x52\x00\x06\x00\x00\x00STUDY ")
    message = C_FIND_RSP()
    message.primitive_to_message(primitive)
    (command,) = next(message.encode_msg(1, 0)).presentation_data_value_list
    assert command == (1, b"\x03" + pending.command_set(STUDY_ROOT_FIND, 7, 0xFF00))


def test_one_pdu_holds_command_and_data_set():
    command = pending.command_set(STUDY_ROOT_FIND, 3, 0xFF00)
    data_set = b"D" * 300
    written = pending.message_pdus(5, command, data_set, 16384)
    assert pdus(written) == [[(5, 0x03, command), (5, 0x02, data_set)]]
    assert pdus(pending.message_pdus(5, command, data_set, 0)) == pdus(written)


@pytest.mark.parametrize("max_length", [7, 64, 90, 96, 100, 401, 4096])
def test_fragments_fit_the_peers_maximum(max_length):
    command = pending.command_set(STUDY_ROOT_FIND, 3, 0xFF00)  # 84 bytes
    data_set = bytes(range(256)) * 20
    found = pdus(pending.message_pdus(1, command, data_set, max_length))
    for items in found:
        assert sum(6 + len(fragment) for _, _, fragment in items) <= max_length
    flat = [item for items in found for item in items]
    commands = [(header, fragment) for _, header, fragment in flat if header & 1]
    data = [(header, fragment) for _, header, fragment in flat if not header & 1]
    # Command fragments first, the last one marked last; then the data set's, likewise.
    assert flat[: len(commands)] == [(1, h, f) for h, f in commands]
    assert [h for h, _ in commands] == [0x01] * (len(commands) - 1) + [0x03]
    assert [h for h, _ in data] == [0x00] * (len(data) - 1) + [0x02]
    assert b"".join(f for _, f in commands) == command
    assert b"".join(f for _, f in data) == data_set
    # Fragments are as large as the room left allows: every PDU but the last is full, but for
    # less than a PDV item's header and one byte.
    for items in found[:-1]:
        assert sum(6 + len(fragment) for _, _, fragment in items) > max_length - 7
