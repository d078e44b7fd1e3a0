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
    # Before the rename, side by side (in any order): the bytes, and the new folders with
    # the entries that name them; after it, the folder that names the file.
    before, after = synced[:4], synced[4:]
    assert [path for path in before if path.startswith(str(storage.incoming_dir()))]
    assert sorted(path for path in before if os.path.isdir(path)) == sorted(
        [str(final.parent), str(final.parent.parent), str(storage.root())]
    )
    assert after == [str(final.parent)]
    assert final.read_bytes() == to_bytes(ds)


def test_off_flushes_nothing(settings, synced):
    settings.STORAGE_FSYNC = False
    result = receive_one(ct_slice(rows=16, columns=16))
    assert Instance.objects.filter(pk=result.instance_pk).exists()
    assert synced == []


@pytest.mark.django_db(transaction=True)
def test_the_bytes_are_flushed_before_the_transaction_and_the_folders_in_it(settings, monkeypatch):
    """The disk's writes are not done under the database's locks (SQLite has one writer): only
    the renames and the flush of the folder they name the files in are. New folders are made,
    and their entries flushed, before."""
    from django.db import connections

    connection = connections["default"]  # this thread's, read from the flushing threads too
    settings.STORAGE_FSYNC = True
    seen = []
    real = os.fsync

    def fsync(fd):
        seen.append((os.readlink(f"/proc/self/fd/{fd}"), connection.in_atomic_block))
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    result = receive_one(ct_slice(rows=16, columns=16))

    final = Instance.objects.get(pk=result.instance_pk).absolute_path
    files = [inside for path, inside in seen if path.startswith(str(storage.incoming_dir()))]
    folders = sorted((path, inside) for path, inside in seen if os.path.isdir(path))
    assert files == [False]
    assert folders == sorted(
        [
            (str(final.parent), False),
            (str(final.parent.parent), False),
            (str(storage.root()), False),
            (str(final.parent), True),
        ]
    )
