"""STORAGE_FSYNC: a stored file's bytes, and the folder entries that name it, reach the disk
before its index row is committed (the order a power cut must not be able to break)."""

import os

import pytest
from dicom_data import ct_slice, receive_one, to_bytes

from archive import storage
from archive.models import Instance

pytestmark = pytest.mark.django_db


@pytest.fixture
def synced(monkeypatch):
    """The real os.fsync, noting what each call flushed."""
    seen = []
    real = os.fsync

    def fsync(fd):
        seen.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return seen


def test_a_stored_file_and_its_new_folders_are_flushed(settings, synced):
    settings.STORAGE_FSYNC = True
    ds = ct_slice(rows=16, columns=16)
    result = receive_one(ds)

    instance = Instance.objects.get(pk=result.instance_pk)
    final = instance.absolute_path
    assert synced[0].startswith(str(storage.incoming_dir()))  # the bytes, before the rename
    assert synced[1:] == [str(final.parent), str(final.parent.parent), str(storage.root())]
    assert final.read_bytes() == to_bytes(ds)


def test_off_flushes_nothing(settings, synced):
    settings.STORAGE_FSYNC = False
    result = receive_one(ct_slice(rows=16, columns=16))
    assert Instance.objects.filter(pk=result.instance_pk).exists()
    assert synced == []
