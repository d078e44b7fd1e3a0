"""HTJ2K renditions decode, with OpenJPH (the decoder family OHIF's Cornerstone uses, here
through imagecodecs), to exactly the original pixels; a prefix of a frame decodes to a lower
resolution; the original file is never touched."""

import hashlib
import io

import imagecodecs
import numpy as np
import pydicom
import pytest
from dicom_data import compressed, ct_slice, mr_slice, multiframe, receive_one, rgb_image
from django.core.management import call_command
from pydicom.uid import RLELossless

from archive import deletion, frames, renditions
from archive.models import Instance, Rendition, Study

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def every_size(settings):
    settings.RENDITION_MIN_BYTES = 0
    settings.RENDITION_MODALITIES = []


def signed_ct(**kw):
    """16-bit signed, values across the whole range (air, bone, metal)."""
    ds = ct_slice(0, rows=128, columns=96, **kw)
    rng = np.random.default_rng(5)
    array = rng.integers(-32768, 32767, size=(128, 96), dtype=np.int16)
    ds.PixelRepresentation = 1
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelData = array.tobytes()
    return ds


def smooth_ct():
    """A 512 x 512 slice with structure at every scale, as real anatomy has."""
    ds = ct_slice(0)
    y, x = np.mgrid[0:512, 0:512]
    body = (
        1000 + 600 * np.sin(x / 19.0) * np.cos(y / 27.0) + 300 * (np.hypot(x - 256, y - 256) < 150)
    )
    noise = np.random.default_rng(1).integers(0, 40, (512, 512))
    ds.PixelData = (body + noise).astype(np.uint16).tobytes()
    return ds


def store(*datasets):
    for ds in datasets:
        result = receive_one(ds)
        assert result.ok, result.reason


def built(ds) -> tuple[Instance, Rendition]:
    store(ds)
    row = Instance.objects.select_related("series").get(sop_instance_uid=ds.SOPInstanceUID)
    assert renditions.build(row) == "built"
    return row, Rendition.objects.get(instance=row)


def codestreams(rendition: Rendition) -> list[bytes]:
    return [frames.read(rendition.absolute_path, pieces) for pieces in rendition.frame_offsets]


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: multiframe(1), id="8-bit"),
        pytest.param(lambda: mr_slice(0), id="12-bit unsigned"),
        pytest.param(lambda: ct_slice(0, rows=64, columns=80), id="16-bit unsigned"),
        pytest.param(signed_ct, id="16-bit signed"),
        pytest.param(rgb_image, id="RGB"),
        pytest.param(lambda: multiframe(5), id="multi-frame"),
        pytest.param(lambda: compressed(ct_slice(0, rows=64, columns=64), RLELossless), id="RLE"),
    ],
)
def test_frames_decode_to_the_original_pixels(make):
    ds = make()
    expected = ds.pixel_array.copy()
    row, rendition = built(ds)
    original = row.absolute_path.read_bytes()

    streams = codestreams(rendition)
    assert len(streams) == (row.number_of_frames or 1)
    decoded = np.stack([imagecodecs.htj2k_decode(s) for s in streams])
    assert decoded.dtype == expected.dtype
    assert decoded.reshape(expected.shape).tobytes() == expected.tobytes()
    assert all(renditions.progression(s) == renditions.RPCL for s in streams)

    # The rendition is a Part-10 file of its own, beside the original, which is untouched.
    assert rendition.absolute_path.parent == row.absolute_path.parent
    assert hashlib.sha256(original).hexdigest() == row.sha256 == rendition.source_sha256
    copy = pydicom.dcmread(rendition.absolute_path)
    assert copy.file_meta.TransferSyntaxUID == renditions.HTJ2K_LOSSLESS_RPCL
    assert copy.SOPInstanceUID == ds.SOPInstanceUID
    assert copy.pixel_array.tobytes() == expected.tobytes()  # pydicom's own decoders agree
    assert rendition.sha256 == hashlib.sha256(rendition.absolute_path.read_bytes()).hexdigest()


def test_a_prefix_decodes_to_a_lower_resolution():
    ds = smooth_ct()
    _, rendition = built(ds)
    (stream,) = codestreams(rendition)
    full = ds.pixel_array

    for skipped, fraction in ((1, 3), (2, 10), (3, 30)):
        prefix = stream[: len(stream) // fraction]
        low = imagecodecs.htj2k_decode(prefix, skipres=skipped, resilient=True)
        size = 512 >> skipped
        assert low.shape == (size, size)
        # The same image the whole codestream gives at that resolution...
        assert np.array_equal(low, imagecodecs.htj2k_decode(stream, skipres=skipped))
        # ...which is the original seen smaller (the 5/3 low-pass follows its block means).
        means = full.reshape(size, 512 // size, size, 512 // size).mean(axis=(1, 3))
        assert np.corrcoef(low.ravel(), means.ravel())[0, 1] > 0.95


def test_skip_reasons_and_idempotence(settings):
    small = mr_slice(0)
    row, _ = built(small)
    assert renditions.build(row) == "kept"
    assert renditions.skip_reason(row, "MR") is None
    settings.RENDITION_MODALITIES = ["CT"]
    assert "RENDITION_MODALITIES" in renditions.skip_reason(row, "MR")
    settings.RENDITION_MODALITIES = []
    settings.RENDITION_MIN_BYTES = 10**9
    assert "RENDITION_MIN_BYTES" in renditions.skip_reason(row, "MR")
    assert renditions.skip_reason(row, "MR", threshold=False) is None

    # A replaced original: the rendition of the old file is stale and never current.
    Instance.objects.filter(pk=row.pk).update(sha256="0" * 64)
    row.refresh_from_db()
    assert renditions.current(row) is None


def test_command_builds_missing_then_nothing(settings):
    datasets = [ct_slice(i, rows=64, columns=64, study_uid="1.2.3.4.5") for i in range(3)]
    store(*datasets)
    out = io.StringIO()
    call_command("build_renditions", "--no-progress", stdout=out)
    assert "3 instances: 3 built." in out.getvalue()
    assert Rendition.objects.count() == 3

    out = io.StringIO()
    call_command("build_renditions", "--no-progress", stdout=out)
    assert "Every eligible instance has its rendition." in out.getvalue()

    out = io.StringIO()
    call_command("build_renditions", "--study", "1.2.3.4.5", "--no-progress", stdout=out)
    assert "3 instances: 3 built." in out.getvalue()


def test_deleting_the_study_removes_its_renditions(django_capture_on_commit_callbacks):
    ds = ct_slice(0, rows=64, columns=64)
    row, rendition = built(ds)
    path, copy = row.absolute_path, rendition.absolute_path
    assert copy.exists()
    with django_capture_on_commit_callbacks(execute=True):
        deletion.delete_study(Study.objects.get(study_instance_uid=ds.StudyInstanceUID))
    assert not Rendition.objects.exists()
    assert not copy.exists() and not path.exists()
    assert not path.parent.exists()  # the series folder went with both files
