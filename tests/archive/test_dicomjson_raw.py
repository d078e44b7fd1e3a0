"""DICOM JSON decoded from raw element values is what pydicom's converted elements give, to the
byte: every file bundled with pydicom (broken ones, other character sets, implicit VR, big
endian, deflated) and generated files with the padding, empty values and several values that
decoding must get right."""

import io
import json
import warnings

import pydicom
import pytest
from dicom_data import bundled_files, ct_slice, to_bytes
from pydicom.data import get_charset_files
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ImplicitVRLittleEndian

from archive import dicomjson

BASE = "$BASE$/bulk/"


def both_ways(data_or_path) -> tuple[str, str] | None:
    """The JSON text of ``to_json`` decoding raw values, and of pydicom converting every
    element; None when pydicom cannot read the file."""
    found = []
    for decode_raw in (True, False):
        source = io.BytesIO(data_or_path) if isinstance(data_or_path, bytes) else data_or_path
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                dataset = pydicom.dcmread(source, defer_size=dicomjson.BULK_THRESHOLD)
            except Exception:
                return None  # ingest refuses it
            out = dicomjson.to_json(
                dataset, lambda path: BASE + dicomjson.bulk_path(path), decode_raw=decode_raw
            )
        # json.dumps tells an int from a float, and a str subclass (UID) is written as str;
        # str() stands for what only pydicom gives (dates when it is configured to convert).
        found.append(json.dumps(out, ensure_ascii=False, allow_nan=False, default=str))
    return found[0], found[1]


@pytest.mark.parametrize("path", bundled_files() + sorted(get_charset_files()))
def test_every_bundled_file_gives_pydicoms_json(path):
    found = both_ways(path)
    if found is not None:
        fast, slow = found
        assert fast == slow


def raw(ds, tag: int, vr: str | None, value: bytes, *, little=True) -> None:
    """Put an element with exactly these value bytes in ``ds`` (pydicom writes it as given)."""
    ds._dict[Tag(tag)] = RawDataElement(Tag(tag), vr, len(value), value, 0, vr is None, little)


ODD_VALUES = [
    # (tag, VR, bytes): padding, empty values among several, spellings pydicom treats its way
    (0x00080008, "CS", b"ORIGINAL\\PRIMARY\\\\AXIAL "),
    (0x00080060, "CS", b"  "),
    (0x00080054, "AE", b" STORE\\ SCP  \x00"),
    (0x00080016, "UI", b"1.2.840.10008.5.1.4.1.1.2\x00"),
    (0x00081150, "UI", b"1.2.3 \\ 4.5\x00"),
    (0x00080020, "DA", b"20240115\\"),
    (0x00080030, "TM", b"101010.5 "),
    (0x0008002A, "DT", b""),
    (0x00101010, "AS", b"042Y"),
    (0x00081030, "LO", b" leading and trailing  "),
    (0x0008103E, "LO", b"one \\ two\\\x00"),
    (0x00081090, "LO", b"Caf\xc3\xa9 \\"),
    (0x00100020, "LO", b"PID\x00A "),
    (0x00204000, "LT", b"line one\r\nwith \\ backslash  "),
    (0x00081010, "SH", b""),
    (0x00321060, "LO", b"\x00\x00"),
    (0x00100010, "PN", b"Smith^John=\xe5\xb1\xb1\xe7\x94\xb0=\\Doe^Jane===  "),
    (0x00081050, "PN", b"=^\\"),  # an empty name among several: pydicom fails, left out
    (0x00081060, "PN", b"="),
    (0x00081070, "PN", b"A=B=C=D"),
    (0x00200013, "IS", b" +7 "),
    (0x00201002, "IS", b"1.0"),
    (0x00201004, "IS", b"1\\\\2"),
    (0x00201041, "DS", b"-1.5e2 "),
    (0x00200032, "DS", b"-125.5\\ .25\\3"),
    (0x00200037, "DS", b"1\\0\\0\\0\\1\\nan"),
    (0x00281050, "DS", b"40.0\\"),
    (0x00281051, "DS", b"  "),
    (0x00181050, "DS", b"1,5"),
    (0x00280010, "US", b"\x40\x00"),
    (0x00280011, "US", b"\x40\x00\x01"),  # an odd length
    (0x00281101, "US", b"\x00\x01\x00\x80\x10\x00"),  # a LUT descriptor, fixed by pydicom
    (0x00280106, "SS", b"\x00\x80\xff\x7f"),
    (0x00189087, "FD", b"\x00\x00\x00\x00\x00\x00\xf8\x7f"),  # NaN: null in jsonb
    (0x00189089, "FD", b"\x00\x00\x00\x00\x00\x00\xf0\x3f" * 3),
    (0x00181310, "US", b""),
    (0x00209165, "AT", b"\x20\x00\x32\x00\x28\x00\x10\x00"),
    (0x00209167, "AT", b"\x20\x00\x32"),
    (0x0040A30A, "DS", b"0.1\\0.2\\1e400"),
    (0x00080081, "ST", b"\\\\"),
    (0x00081195, "UI", b""),
    (0x00400010, "SH", b"A\tB\\C\x00"),
    (0x0072000A, "DT", b"20240115101010.000000+0100 "),
    (0x00280034, "IS", b"99999999999999999999"),
    (0x00081190, "UR", b"http://x/ y  "),
]


def odd_dataset(charset="ISO_IR 192", *, implicit=False):
    ds = ct_slice(rows=8, columns=8)
    ds.SpecificCharacterSet = charset
    ds["PixelData"].VR = "OW"  # pydicom does not resolve it when writing as read
    for tag, vr, value in ODD_VALUES:
        raw(ds, tag, None if implicit else vr, value)
    # Written as it is, rather than converted for another encoding.
    ds.set_original_encoding(implicit, True, ds._character_set)
    return ds


@pytest.mark.parametrize("implicit", [False, True])
def test_padding_empty_and_several_values_give_pydicoms_json(implicit):
    ds = odd_dataset(implicit=implicit)
    if implicit:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    data = to_bytes(ds)
    assert b"1,5" in data

    fast, slow = both_ways(data)

    assert fast == slow
    out = json.loads(fast)
    assert out["00080008"] == {"vr": "CS", "Value": ["ORIGINAL", "PRIMARY", "", "AXIAL"]}
    assert out["00080060"] == {"vr": "CS"}
    assert out["00100010"]["Value"][1] == {"Alphabetic": "Doe^Jane"}
    assert out["00200013"] == {"vr": "IS", "Value": [7]}
    assert out["00189087"] == {"vr": "FD", "Value": [None]}


@pytest.mark.parametrize(
    "charset, text",
    [
        (["ISO 2022 IR 6", "ISO 2022 IR 87"], "Yamada^Tarou=山田^太郎=やまだ^たろう"),
        ("ISO_IR 100", "Müller^Jörg"),
        ("ISO_IR 144", "Иванов^Иван"),
        ("GB18030", "王^小东=王^小东="),
        ("", "plain^ascii"),
    ],
)
def test_character_sets_give_pydicoms_json(charset, text):
    ds = ct_slice(rows=8, columns=8)
    ds.SpecificCharacterSet = charset
    ds.PatientName = [text, text]
    ds.StudyDescription = text.replace("^", " ").replace("=", " ")
    ds.SeriesDescription = [text[:8], text[-8:]]
    ds.ImageComments = text + "\\" + text
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = to_bytes(ds)

    fast, slow = both_ways(data)

    assert fast == slow
    assert json.loads(fast)["00100010"]["Value"][0]["Alphabetic"] == text.split("=")[0]


@pytest.mark.parametrize(
    "syntax", [ImplicitVRLittleEndian, ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian]
)
def test_transfer_syntaxes_give_pydicoms_json(syntax):
    ds = ct_slice(rows=8, columns=8)
    ds.FrameOfReferenceUID = pydicom.uid.generate_uid()
    ds.RescaleType = "HU"
    ds.SmallestImagePixelValue = 0  # US or SS: resolved by pydicom
    ds.ReferencedImageSequence = [pydicom.Dataset()]
    ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID = "1.2.3"
    ds.ReferencedImageSequence[0].ReferencedFrameNumber = ["1", "2"]
    ds.file_meta.TransferSyntaxUID = syntax
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # big endian is retired
        data = to_bytes(ds)

    fast, slow = both_ways(data)

    assert fast == slow
    out = json.loads(fast)
    assert out["00280010"] == {"vr": "US", "Value": [8]}
    assert out["00081140"]["Value"][0]["00081160"] == {"vr": "IS", "Value": [1, 2]}


def test_datetime_conversion_goes_through_pydicom(monkeypatch):
    monkeypatch.setattr(pydicom.config, "datetime_conversion", True)
    ds = ct_slice(rows=8, columns=8)
    ds.StudyTime = "101010.5"

    fast, slow = both_ways(to_bytes(ds))

    assert fast == slow
    assert json.loads(fast)["00080030"] == {"vr": "TM", "Value": ["101010.5"]}
