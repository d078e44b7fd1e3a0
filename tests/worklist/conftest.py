"""Worklist fixtures: clients signed in with one role each, and instances stored through the
real ingest path."""

import pytest
from dicom_data import receive_one


@pytest.fixture
def client_as(db, client, django_user_model):
    """``client_as("reader")``: the test client signed in as a user holding that role only."""
    from django.contrib.auth.models import Group

    def sign_in(role):
        user = django_user_model.objects.create_user(f"{role}-user", password="password")
        user.groups.add(Group.objects.get_or_create(name=role)[0])
        client.force_login(user)
        return client

    return sign_in


@pytest.fixture
def store(db):
    """Store datasets through archive.ingest, as every upload path does; returns the results."""

    def store(*datasets):
        results = [receive_one(ds) for ds in datasets]
        assert all(r.ok for r in results), [r.reason for r in results]
        return results

    return store


@pytest.fixture
def make_study(db):
    """An index row only (no files), for filter, sort and paging tests."""
    from dicom_data import uid

    from archive.models import Study

    def make(**fields):
        fields.setdefault("study_instance_uid", uid())
        if "patient_name" in fields:
            fields.setdefault("patient_name_key", fields["patient_name"].upper())
        return Study.objects.create(**fields)

    return make
