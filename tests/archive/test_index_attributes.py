"""The index's attributes decoded from raw element values are what pydicom's values give:
every file bundled with pydicom (broken ones, other character sets, implicit VR, big endian)
and generated files with the padding and several values that decoding must get right."""

import io
import warnings

import pydicom
import pytest
from dicom_data import bundled_files, ct_slice, to_bytes
from pydicom.data import get_charset_files
from pydicom.uid import ExplicitVRBigEndian, ImplicitVRLittleEndian

from archive import frames
from archive.ingest import attributes, read

UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
NUMBERS = ("Rows", "Columns", "SamplesPerPixel", "BitsAllocated", "NumberOfFrames")


def through_pydicom(dataset) -> dict:
    """Every column through pydicom's converted ``DataElement`` values (the slow way)."""
    return {column.field: attributes._converted(dataset, column) for column in read.COLUMNS}


def both_ways(source) -> tuple[dict, dict] | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fast = pydicom.dcmread(source(), defer_size=read.DEFER_SIZE)
            slow = pydicom.dcmread(source(), defer_size=read.DEFER_SIZE)
        except Exception:
            return None  # pydicom cannot read it: ingest refuses it before its attributes
        return _every_value(fast, attributes.uid, attributes.number), _every_value(
            slow, _pydicom_uid, _pydicom_number, through_pydicom
        )


def _every_value(dataset, uid, number, columns=None) -> dict:
    """The index's columns, the UIDs ``read.parse`` checks and the numbers ``frames.locate``
    reads (or the name of the error reading one raises)."""
    values = {f"uid {key}": _or_error(uid, dataset, key) for key in UIDS}
    values |= {f"number {key}": _or_error(number, dataset, key) for key in NUMBERS}
    return values | (columns or (lambda ds: attributes.read(ds, read.COLUMNS)))(dataset)


def _pydicom_uid(dataset, keyword):
    """What ``read.parse`` read before."""
    return str(dataset.get(keyword, "") or "").strip()


def _pydicom_number(dataset, keyword):
    """What ``frames.locate`` reads by default."""
    return frames._int(dataset.get(keyword))


def _or_error(function, dataset, key):
    try:
        return function(dataset, key)
    except Exception as exc:
        return type(exc).__name__


@pytest.mark.parametrize("path", bundled_files() + sorted(get_charset_files()))
def test_every_bundled_file_gives_pydicoms_values(path):
    found = both_ways(lambda: path)
    if found is not None:
        fast, slow = found
        assert fast == slow


def test_padding_and_several_values_give_pydicoms_values():
    ds = ct_slice(rows=8, columns=8)
    ds.SpecificCharacterSet = ["ISO 2022 IR 6", "ISO 2022 IR 87"]
    ds.PatientName = "Yamada^Tarou=山田^太郎=やまだ^たろう"
    ds.StudyDescription = " leading and trailing  "
    ds.SeriesDescription = ["one ", " two", ""]
    ds.AccessionNumber = ""
    ds.BodyPartExamined = "CHEST\\HEAD"
    ds.ProtocolName = "x" * 64
    ds.SeriesNumber = ["1", "2"]
    ds.InstanceNumber = " 7"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # not a valid IS, but pydicom reads it as 1
        ds.add_new(0x00280008, "IS", "1.0")  # NumberOfFrames
    ds.PatientAge = "042Y"
    ds.PatientWeight = "70.5"
    data = to_bytes(ds)

    fast, slow = both_ways(lambda: io.BytesIO(data))

    assert fast == slow
    assert fast["patient_name"] == "Yamada^Tarou=山田^太郎=やまだ^たろう"
    assert fast["series_number"] is None  # two values are no number
    assert fast["number_of_frames"] == 1
    assert fast["instance_number"] == 7
    assert fast["series_description"] == "one\\ two\\"
    assert fast["body_part_examined"] == "CHEST\\HEAD"


def test_implicit_vr_and_big_endian_give_pydicoms_values():
    for syntax in (ImplicitVRLittleEndian, ExplicitVRBigEndian):
        ds = ct_slice(rows=8, columns=8)
        ds.file_meta.TransferSyntaxUID = syntax
        buffer = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # big endian is retired
            ds.save_as(buffer, enforce_file_format=True)
        data = buffer.getvalue()

        fast, slow = both_ways(lambda data=data: io.BytesIO(data))

        assert fast == slow
        assert fast["rows"] == 8
