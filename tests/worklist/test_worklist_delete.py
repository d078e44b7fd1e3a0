"""Deleting a study from the worklist: administrators only, POST only, everything goes."""

from dicom_data import ct_series, mr_slice
from stored import is_stored, key_exists

from archive.models import Instance, Series, Study


def test_admin_deletes_a_study_with_its_files(client_as, store, django_capture_on_commit_callbacks):
    series = ct_series(2, rows=32, columns=32)
    keep = mr_slice()
    store(*series, keep)
    paths = [
        i.file_path
        for i in Instance.objects.filter(
            series__study__study_instance_uid=series[0].StudyInstanceUID
        )
    ]
    client = client_as("admin")
    html = client.get("/").content.decode()
    assert f'data-url="/worklist/studies/{series[0].StudyInstanceUID}/delete"' in html

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/worklist/studies/{series[0].StudyInstanceUID}/delete")
    assert response.status_code == 200
    assert response.json() == {"deleted": series[0].StudyInstanceUID, "series": 1, "instances": 2}
    assert list(Study.objects.values_list("study_instance_uid", flat=True)) == [
        keep.StudyInstanceUID
    ]
    assert Series.objects.count() == 1
    assert not any(key_exists(path) for path in paths)
    assert is_stored(Instance.objects.get())


def test_others_cannot_delete_nor_see_the_button(client_as, store):
    [result] = store(mr_slice())
    for role in ("reader", "uploader"):
        client = client_as(role)
        assert "Delete…" not in client.get("/").content.decode()
        response = client.post(f"/worklist/studies/{result.study_instance_uid}/delete")
        assert response.status_code == 403
        client.logout()
    assert Study.objects.count() == 1


def test_delete_needs_post_and_a_known_study(client_as, store):
    [result] = store(mr_slice())
    client = client_as("admin")
    assert client.get(f"/worklist/studies/{result.study_instance_uid}/delete").status_code == 405
    assert client.post("/worklist/studies/9.9.9/delete").status_code == 404
    assert Study.objects.count() == 1
