"""Fixtures for the access tests."""

import io

import pytest
from dicom_data import ct_slice, to_bytes
from django.core.cache import cache

from archive import intake


@pytest.fixture(autouse=True)
def fresh_cache():
    """Remembered tokens, Basic successes and access-log repeats start empty in every test."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def stored():
    """One small CT instance in the archive."""
    ds = ct_slice(rows=64, columns=64, seed=7)
    intake.receive_stream(io.BytesIO(to_bytes(ds)))
    return ds
