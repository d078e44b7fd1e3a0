"""A frame asked for again right after its instance changed: each process remembers the rows
of frames it served for a moment (archive/dicomweb/lookup.py), and must still answer with the
new bytes after a replacement and 404 after a deletion."""

import pytest
from dicom_data import ct_slice
from wado_support import OHIF_FRAMES, instance_path, parts_of, store

from archive import deletion
from archive.models import Series

pytestmark = pytest.mark.django_db


def frame(client, ds):
    response = client.get(instance_path(ds) + "/frames/1", HTTP_ACCEPT=OHIF_FRAMES)
    if response.status_code != 200:
        return response.status_code
    ((_, payload),) = parts_of(response)
    return payload


def test_replaced_instance_serves_its_new_pixels_at_once(
    reader_client, settings, django_capture_on_commit_callbacks
):
    settings.OVERWRITE_INSTANCES = True
    first = ct_slice(0, rows=32, columns=32, seed=11)
    store(first)
    assert frame(reader_client, first) == first.PixelData
    url = instance_path(first) + "/frames/1"
    held = reader_client.get(url, HTTP_ACCEPT=OHIF_FRAMES)["ETag"]  # what a browser keeps

    second = ct_slice(0, rows=32, columns=32, seed=12, study_uid=first.StudyInstanceUID)
    second.SeriesInstanceUID = first.SeriesInstanceUID
    second.SOPInstanceUID = second.file_meta.MediaStorageSOPInstanceUID = first.SOPInstanceUID
    assert second.PixelData != first.PixelData
    with django_capture_on_commit_callbacks(execute=True):  # the old file goes at commit
        store(second)

    assert frame(reader_client, second) == second.PixelData
    revalidated = reader_client.get(url, HTTP_ACCEPT=OHIF_FRAMES, HTTP_IF_NONE_MATCH=held)
    assert revalidated.status_code == 200  # not 304: the browser's copy is of the old file
    assert parts_of(revalidated)[0][1] == second.PixelData


def test_deleted_instance_is_404_at_once(reader_client, django_capture_on_commit_callbacks):
    ds = ct_slice(0, rows=32, columns=32, seed=13)
    store(ds)
    assert frame(reader_client, ds) == ds.PixelData
    with django_capture_on_commit_callbacks(execute=True):
        deletion.delete_series(Series.objects.get(series_instance_uid=ds.SeriesInstanceUID))
    assert frame(reader_client, ds) == 404
