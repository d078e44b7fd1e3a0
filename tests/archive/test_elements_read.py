"""``elements.read`` gives the data set ``pydicom.dcmread`` gives, or hands the file to
it: every file bundled with pydicom (broken ones, other character sets, implicit VR, big
endian, deflated, sequences of undefined length) and generated ones, cut short too."""

import io
import os
import warnings

import pydicom
import pytest
from dicom_data import bundled_files, ct_slice, to_bytes
from pydicom.data import get_charset_files
from pydicom.dataelem import DataElement
from pydicom.sequence import Sequence
from pydicom.uid import ImplicitVRLittleEndian

from archive import elements, storage
from archive.ingest import read
from archive.ingest.outcome import Rejected

FILES = [path for path in bundled_files() + sorted(get_charset_files()) if os.path.isfile(path)]


def _same(ours, theirs) -> None:
    """Equal elements (raw as read, or the sequences pydicom parsed at once), file meta,
    encodings and preamble."""
    assert ours.preamble == theirs.preamble
    assert ours.is_implicit_VR == theirs.is_implicit_VR
    assert ours.is_little_endian == theirs.is_little_endian
    assert ours.original_encoding == theirs.original_encoding
    assert ours._character_set == theirs._character_set
    assert ours._dict.keys() == theirs._dict.keys()
    assert list(ours.file_meta._dict) == list(theirs.file_meta._dict)
    for tag in theirs.file_meta._dict:  # dcmread converted some of them already
        assert ours.file_meta[tag] == theirs.file_meta[tag]
    for tag, elem in theirs._dict.items():
        mine = ours._dict[tag]
        if isinstance(elem, DataElement) and isinstance(elem.value, Sequence):
            assert isinstance(mine, DataElement)
            assert mine.is_undefined_length == elem.is_undefined_length
            assert mine.file_tell == elem.file_tell
            assert _json(mine.value) == _json(elem.value)
        else:
            assert mine == elem, tag
    assert _json_or_error(ours) == _json_or_error(theirs)


def _json_or_error(dataset):
    try:
        return dataset.to_json_dict()
    except Exception as exc:
        return type(exc).__name__


def _json(sequence):
    return [item.to_json_dict() for item in sequence]


def _both(data: bytes):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            theirs = pydicom.dcmread(io.BytesIO(data), defer_size=read.DEFER_SIZE)
        except Exception:
            theirs = None
        ours = elements.read(data, read.DEFER_SIZE)
    return ours, theirs


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.rsplit("/", 1)[-1])
def test_every_bundled_file_reads_as_dcmread_reads_it_or_goes_to_it(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) > 4 * read.DEFER_SIZE:
        pytest.skip("large: read.parse gives it to dcmread from disk")
    ours, theirs = _both(data)
    if ours is None:
        return  # dcmread's, as before
    assert theirs is not None, "a file dcmread cannot read was read"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _same(ours, theirs)


def test_the_common_files_are_read_here_not_by_dcmread():
    """The fast way must apply where it matters: a modality's explicit and implicit VR
    little endian files, sequences of defined and undefined length, several charsets."""
    read_here = []
    for path in FILES:
        with open(path, "rb") as f:
            data = f.read()
        if len(data) <= 4 * read.DEFER_SIZE and elements.read(data, read.DEFER_SIZE):
            read_here.append(path.rsplit("/", 1)[-1])
    for name in ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "chrH31.dcm", "chrX1.dcm"):
        assert name in read_here
    assert len(read_here) > 60, read_here


@pytest.mark.parametrize("syntax", [None, ImplicitVRLittleEndian])
def test_generated_files_whole_and_cut_short_at_every_length(syntax):
    ds = ct_slice(0, rows=8, columns=8)
    ds.ReferencedImageSequence = [pydicom.Dataset()]
    ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID = "1.2.3"
    ds.PatientName = "Doe^John"
    if syntax is not None:
        ds.file_meta.TransferSyntaxUID = syntax
    data = to_bytes(ds)
    whole, theirs = _both(data)
    assert whole is not None
    _same(whole, theirs)
    for end in range(0, len(data), 7):
        ours, theirs = _both(data[:end])
        if ours is not None:
            assert theirs is not None, end
            try:
                _same(ours, theirs)
            except AssertionError as exc:
                raise AssertionError(f"cut at {end} of {len(data)}") from exc


def test_a_command_set_or_a_vr_switch_goes_to_dcmread():
    ds = ct_slice(0, rows=8, columns=8)
    data = to_bytes(ds)
    meta_end = 144 + int.from_bytes(data[140:144], "little")  # after (0002,0000)'s group
    command = b"\x00\x00\x00\x00\x04\x00\x00\x00\x04\x00\x00\x00"  # (0000,0000) UL 4
    assert elements.read(data[:meta_end] + command + data[meta_end:], read.DEFER_SIZE) is None
    assert elements.read(b"\0" * 128 + b"DICN" + data[132:], read.DEFER_SIZE) is None


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.rsplit("/", 1)[-1])
def test_read_parse_answers_the_same_either_way(path, monkeypatch, tmp_path):
    """What ingest makes of the file (its index attributes, or the reason it is refused)
    does not depend on which reader read it."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) > read.DEFER_SIZE:
        pytest.skip("large: always dcmread's")
    copy = tmp_path / "file.dcm"
    copy.write_bytes(data)
    spooled = storage.Spooled(copy, len(data), "0" * 64)

    def outcome():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return read.parse(spooled).attrs
            except Rejected as exc:
                return exc.result()

    fast = outcome()
    monkeypatch.setattr(elements, "read", lambda data, defer_size: None)
    assert fast == outcome()
