"""Fixtures for the access tests."""

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def fresh_cache():
    """Remembered tokens, Basic successes and access-log repeats start empty in every test."""
    cache.clear()
    yield
    cache.clear()
