"""The read-only admin of studies, series and instances: search, filters, cache state, and
deletion (single and bulk) that takes files and caches along."""

import re

import pytest
from dicom_data import ct_series, pet_slice, receive_one, uid
from django.contrib.auth.models import Group, User
from django.urls import reverse

from archive import caches, storage
from archive.models import Instance, Series, Study

pytestmark = pytest.mark.django_db


def store(datasets):
    for ds in datasets:
        assert receive_one(ds).ok
    return Study.objects.get(study_instance_uid=datasets[0].StudyInstanceUID)


@pytest.fixture
def archive(settings):
    settings.PRELOAD = False  # no worker in these tests
    smith = store(ct_series(2, rows=8, columns=8, patient_name="Smith^John", patient_id="P-SMITH"))
    caches.build(smith.pk, Study.objects.get(pk=smith.pk).generation)
    jones = store([pet_slice(0, patient_name="Jones^Ann", patient_id="P-JONES", accession="A77")])
    return Study.objects.get(pk=smith.pk), jones


def staff_with_role(role: str) -> User:
    user = User.objects.create_user(f"{role}-user", password="pw", is_staff=True)
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def changelist(client, model: str, **params) -> str:
    response = client.get(reverse(f"admin:archive_{model}_changelist"), params)
    assert response.status_code == 200
    return response.content.decode()


def test_study_list_shows_counts_and_cache_state(admin_client, archive):
    smith, jones = archive
    page = changelist(admin_client, "study")
    # Names and dates as the worklist shows them, not raw DICOM values.
    assert "SMITH, JOHN" in page and "JONES, ANN" in page
    assert "Smith^John" not in page
    assert re.search(r'<td class="field-date">\d{4}-\d{2}-\d{2}', page)
    assert "ready" in page and "pending" in page


@pytest.mark.parametrize(
    ("query", "found", "absent"),
    [
        ("smith", "SMITH, JOHN", "JONES, ANN"),
        ("P-JONES", "JONES, ANN", "SMITH, JOHN"),
        ("A77", "JONES, ANN", "SMITH, JOHN"),
    ],
)
def test_study_search(admin_client, archive, query, found, absent):
    page = changelist(admin_client, "study", q=query)
    assert found in page and absent not in page


def test_study_search_by_study_and_series_uid(admin_client, archive):
    smith, jones = archive
    page = changelist(admin_client, "study", q=jones.study_instance_uid)
    assert "JONES, ANN" in page and "SMITH, JOHN" not in page
    series_uid = smith.series_set.get().series_instance_uid
    page = changelist(admin_client, "study", q=series_uid)
    assert "SMITH, JOHN" in page and "JONES, ANN" not in page


def test_study_filters_by_modality_and_cache_state(admin_client, archive):
    page = changelist(admin_client, "study", modality="PT")
    assert "JONES, ANN" in page and "SMITH, JOHN" not in page
    page = changelist(admin_client, "study", cache="ready")
    assert "SMITH, JOHN" in page and "JONES, ANN" not in page
    page = changelist(admin_client, "study", cache="pending")
    assert "JONES, ANN" in page and "SMITH, JOHN" not in page


def test_failed_build_shows_its_error(admin_client, archive):
    _, jones = archive
    Study.objects.filter(pk=jones.pk).update(cache_error="ValueError: bad file")
    page = changelist(admin_client, "study", cache="failed")
    assert "JONES, ANN" in page and 'title="ValueError: bad file"' in page
    detail = admin_client.get(reverse("admin:archive_study_change", args=[jones.pk]))
    assert "ValueError: bad file" in detail.content.decode()


def test_series_and_instance_lists(admin_client, archive):
    smith, _ = archive
    series = smith.series_set.get()
    page = changelist(admin_client, "series", q=smith.study_instance_uid)
    assert series.series_instance_uid in page
    page = changelist(admin_client, "instance", q=series.series_instance_uid)
    assert page.count("1.2.840.10008.5.1.4.1.1.2") == 2  # CT Image Storage, two instances


def test_nothing_can_be_added_or_edited(admin_client, archive):
    smith, _ = archive
    assert admin_client.get(reverse("admin:archive_study_add")).status_code == 403
    response = admin_client.post(
        reverse("admin:archive_study_change", args=[smith.pk]), {"patient_name": "Changed"}
    )
    assert response.status_code == 403
    assert Study.objects.get(pk=smith.pk).patient_name == "Smith^John"


def test_delete_study_from_its_page_removes_files(
    admin_client, archive, django_capture_on_commit_callbacks
):
    smith, _ = archive
    paths = [i.absolute_path for i in Instance.objects.filter(series__study=smith)]
    url = reverse("admin:archive_study_delete", args=[smith.pk])

    confirm = admin_client.get(url).content.decode()
    assert "2 instances" in confirm

    assert all(path.exists() for path in paths)  # the confirmation page changes nothing
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, {"post": "yes"})

    assert response.status_code == 302
    assert not Study.objects.filter(pk=smith.pk).exists()
    assert Instance.objects.filter(series__study_id=smith.pk).count() == 0
    assert not any(path.exists() for path in paths)


def test_bulk_delete_action_goes_through_deletion(
    admin_client, settings, django_capture_on_commit_callbacks
):
    settings.PRELOAD = False
    studies = [store(ct_series(1, rows=8, columns=8)) for _ in range(3)]
    paths = [Instance.objects.get(series__study=s).absolute_path for s in studies]

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:archive_study_changelist"),
            {
                "action": "delete_selected",
                "_selected_action": [studies[0].pk, studies[1].pk],
                "post": "yes",
            },
        )

    assert response.status_code == 302
    assert list(Study.objects.values_list("pk", flat=True)) == [studies[2].pk]
    assert [path.exists() for path in paths] == [False, False, True]


def test_delete_series_refreshes_the_study(
    admin_client, settings, django_capture_on_commit_callbacks
):
    settings.PRELOAD = False
    study_uid = uid()
    study = store(ct_series(2, rows=8, columns=8, study_uid=study_uid))
    store([pet_slice(0, study_uid=study_uid, series_number=2)])
    pet = Series.objects.get(study=study, modality="PT")
    pet_file = pet.instance_set.get().absolute_path

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:archive_series_delete", args=[pet.pk]), {"post": "yes"}
        )

    assert response.status_code == 302
    study.refresh_from_db()
    assert (study.modalities_in_study, study.number_of_study_related_instances) == ("CT", 2)
    assert not pet_file.exists()
    assert storage.root().joinpath(study_uid).exists()


def test_reader_sees_but_cannot_delete(client, archive):
    smith, _ = archive
    client.force_login(staff_with_role("reader"))
    assert "SMITH, JOHN" in changelist(client, "study")
    url = reverse("admin:archive_study_delete", args=[smith.pk])
    assert client.post(url, {"post": "yes"}).status_code == 403
    assert Study.objects.filter(pk=smith.pk).exists()


def test_archive_admin_role_can_delete(client, archive):
    smith, _ = archive
    client.force_login(staff_with_role("admin"))
    url = reverse("admin:archive_study_delete", args=[smith.pk])
    assert client.post(url, {"post": "yes"}).status_code == 302
    assert not Study.objects.filter(pk=smith.pk).exists()


def test_staff_without_a_role_sees_nothing(client, archive):
    client.force_login(User.objects.create_user("nobody", password="pw", is_staff=True))
    response = client.get(reverse("admin:archive_study_changelist"))
    assert response.status_code == 403


def test_rebuild_action_queues_one_build_per_study(
    admin_client, archive, django_capture_on_commit_callbacks
):
    smith, jones = archive
    with django_capture_on_commit_callbacks() as queued:
        response = admin_client.post(
            reverse("admin:archive_study_changelist"),
            {"action": "rebuild_caches", "_selected_action": [smith.pk, jones.pk]},
        )
    assert response.status_code == 302
    assert len(queued) == 2  # one build_caches per study, sent when the transaction commits
