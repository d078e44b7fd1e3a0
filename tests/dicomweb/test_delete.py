"""Removing studies and series over DICOMweb: DELETE, and OHIF's reject call. Files and rows
go; everything else stays; refusals change nothing."""

import pytest
from dicom_data import ct_series, mr_slice, receive_one
from stored import key_exists
from stow_support import BASE, Api, user_with_role

from archive import storage
from archive.models import Instance, Series, Study


def store(datasets):
    for ds in datasets:
        assert receive_one(ds).ok
    return datasets


def two_series_study():
    """A study with a CT series of 2 and an MR series of 1, and another study of 1."""
    ct = store(ct_series(2, rows=16, columns=16))
    study_uid = ct[0].StudyInstanceUID
    mr = store([mr_slice(study_uid=study_uid, series_number=2)])
    other = store(ct_series(1, rows=16, columns=16))
    return ct, mr, other


def file_of(ds) -> str:
    return storage.instance_relpath(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)


def state():
    """Rows and files: the store is shared by the whole run, the rows are not."""
    rows = sorted(Instance.objects.values_list("sop_instance_uid", "file_path"))
    return rows, [key_exists(path) for _, path in rows]


@pytest.fixture
def api(admin_user):
    return Api(admin_user.username)


def test_delete_study(api, django_capture_on_commit_callbacks):
    ct, mr, other = two_series_study()
    study_uid = ct[0].StudyInstanceUID

    with django_capture_on_commit_callbacks(execute=True):  # files go after the commit
        response = api.delete(f"{BASE}/studies/{study_uid}")

    assert response.status_code == 204
    assert not Study.objects.filter(study_instance_uid=study_uid).exists()
    assert not Series.objects.filter(study__study_instance_uid=study_uid).exists()
    assert list(Instance.objects.values_list("sop_instance_uid", flat=True)) == [
        other[0].SOPInstanceUID
    ]
    assert [key_exists(file_of(ds)) for ds in ct + other] == [False, False, True]
    again = api.delete(f"{BASE}/studies/{study_uid}")
    assert again.status_code == 404


def test_delete_series_keeps_the_rest_of_the_study(api, django_capture_on_commit_callbacks):
    ct, mr, other = two_series_study()
    study_uid, series_uid = ct[0].StudyInstanceUID, ct[0].SeriesInstanceUID

    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"{BASE}/studies/{study_uid}/series/{series_uid}")

    assert response.status_code == 204
    study = Study.objects.get(study_instance_uid=study_uid)
    assert study.number_of_study_related_series == 1
    assert study.number_of_study_related_instances == 1
    assert study.modalities_in_study == "MR"
    assert not Series.objects.filter(series_instance_uid=series_uid).exists()
    assert sorted(Instance.objects.values_list("sop_instance_uid", flat=True)) == sorted(
        [mr[0].SOPInstanceUID, other[0].SOPInstanceUID]
    )
    assert [key_exists(file_of(ds)) for ds in ct + mr + other] == [False, False, True, True]


def test_ohif_reject_deletes_the_series(api, django_capture_on_commit_callbacks):
    ct, mr, other = two_series_study()
    study_uid, series_uid = ct[0].StudyInstanceUID, mr[0].SeriesInstanceUID

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"{BASE}/studies/{study_uid}/series/{series_uid}/reject/113001%5EDCM")

    assert response.status_code == 204
    assert not Series.objects.filter(series_instance_uid=series_uid).exists()
    assert Study.objects.get(study_instance_uid=study_uid).modalities_in_study == "CT"
    assert [key_exists(file_of(ds)) for ds in ct + mr + other] == [True, True, False, True]


def test_reject_when_turned_off_is_403(api, settings):
    settings.DICOMWEB_ALLOW_REJECT = False
    ct, _, _ = two_series_study()
    before = state()
    response = api.post(
        f"{BASE}/studies/{ct[0].StudyInstanceUID}/series/{ct[0].SeriesInstanceUID}"
        "/reject/113001%5EDCM"
    )
    assert response.status_code == 403
    assert "DICOMWEB_ALLOW_REJECT" in response.json()["detail"]
    assert state() == before


def test_reject_with_unknown_code_is_400(api):
    ct, _, _ = two_series_study()
    before = state()
    response = api.post(
        f"{BASE}/studies/{ct[0].StudyInstanceUID}/series/{ct[0].SeriesInstanceUID}"
        "/reject/999999%5EXYZ"
    )
    assert response.status_code == 400
    assert state() == before


@pytest.mark.parametrize(
    "path, status",
    [
        ("studies/1.2.3", 404),
        ("studies/1.2.abc", 400),
        ("studies/{study}/series/1.2.3", 404),
        ("studies/{other}/series/{series}", 404),  # the series is not in that study
        ("studies/{study}/series/" + "1" * 65, 400),
    ],
)
def test_unknown_or_invalid_uids(api, path, status):
    ct, _, other = two_series_study()
    before = state()
    url = path.format(
        study=ct[0].StudyInstanceUID,
        series=ct[0].SeriesInstanceUID,
        other=other[0].StudyInstanceUID,
    )
    assert api.delete(f"{BASE}/{url}").status_code == status
    assert state() == before


@pytest.mark.parametrize("role", ["reader", "uploader", None])
def test_only_admins_delete(db, role):
    ct, _, _ = two_series_study()
    before = state()
    if role:
        user_with_role(role)
    api = Api(role)
    status = 403 if role else 401
    study_uid, series_uid = ct[0].StudyInstanceUID, ct[0].SeriesInstanceUID
    assert api.delete(f"{BASE}/studies/{study_uid}").status_code == status
    assert api.delete(f"{BASE}/studies/{study_uid}/series/{series_uid}").status_code == status
    assert (
        api.post(f"{BASE}/studies/{study_uid}/series/{series_uid}/reject/113001%5EDCM").status_code
        == status
    )
    assert state() == before


def test_other_methods_are_405(api):
    response = api.put(f"{BASE}/studies")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
