"""Per-study access (projects): a reader granted project A sees exactly A's studies through
every door, and B is unknown to it (404, never 403, never in a list); an admin sees both;
readers in no project see everything or nothing as READERS_WITHOUT_PROJECT says; studies join
projects by rule as they arrive; provider groups grant projects at login."""

from urllib.parse import urlencode

import pytest
import requests
from access_helpers import logged_in, user_with_role
from dicom_data import ct_slice, receive_one, to_bytes
from django.contrib.auth.models import Group
from django.test import Client
from test_oidc_login import login

from accounts.identities import user_from_claims
from accounts.models import Project
from archive import signing
from archive.ingest import Origin
from archive.models import Study

pytestmark = pytest.mark.django_db


def store(seed, **kw):
    ds = ct_slice(rows=64, columns=64, seed=seed, **kw)
    assert receive_one(ds).ok
    return ds


@pytest.fixture
def two_studies():
    """Study A in project A, study B in project B."""
    a = store(1, patient_id="PID-A", patient_name="Alpha^Ann")
    b = store(2, patient_id="PID-B", patient_name="Beta^Ben")
    project_a = Project.objects.create(name="A")
    project_a.studies.add(Study.objects.get(study_instance_uid=a.StudyInstanceUID))
    project_b = Project.objects.create(name="B")
    project_b.studies.add(Study.objects.get(study_instance_uid=b.StudyInstanceUID))
    return a, b, project_a


def uids(response, tag="0020000D"):
    assert response.status_code == 200, response.content[:200]
    return {item[tag]["Value"][0] for item in response.json()}


def instance_path(ds) -> str:
    return (
        f"/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}"
    )


def wado_uri(ds) -> str:
    return "/wado?" + urlencode(
        {
            "requestType": "WADO",
            "studyUID": ds.StudyInstanceUID,
            "seriesUID": ds.SeriesInstanceUID,
            "objectUID": ds.SOPInstanceUID,
            "contentType": "application/dicom",
        }
    )


def reads(client, ds) -> dict[str, int]:
    """Status of each way of reading one study."""
    study = f"/dicom-web/studies/{ds.StudyInstanceUID}"
    frames = {"HTTP_ACCEPT": 'multipart/related; type="application/octet-stream"'}
    return {
        "metadata": client.get(f"{study}/metadata").status_code,
        "series metadata": client.get(
            f"{study}/series/{ds.SeriesInstanceUID}/metadata"
        ).status_code,
        "instance": client.get(instance_path(ds), HTTP_ACCEPT="application/dicom").status_code,
        "frames": client.get(instance_path(ds) + "/frames/1", **frames).status_code,
        "rendered": client.get(instance_path(ds) + "/rendered").status_code,
        "thumbnail": client.get(f"{study}/thumbnail").status_code,
        "series thumbnail": client.get(
            f"{study}/series/{ds.SeriesInstanceUID}/thumbnail"
        ).status_code,
        "study retrieve": client.get(
            study, HTTP_ACCEPT='multipart/related; type="application/dicom"'
        ).status_code,
        "wado-uri": client.get(wado_uri(ds)).status_code,
        "dicom json link": client.get(f"{study}/ohif-dicom-json-link").status_code,
        "worklist series": client.get(
            f"/worklist/studies/{ds.StudyInstanceUID}/series"
        ).status_code,
        "zip download": client.get(f"/worklist/studies/{ds.StudyInstanceUID}/download").status_code,
    }


def sees_exactly(client, ds, other):
    """QIDO at every level lists ``ds`` and not ``other``; ``other`` reads are all 404."""
    assert uids(client.get("/dicom-web/studies")) == {ds.StudyInstanceUID}
    assert uids(client.get("/dicom-web/series"), "0020000E") == {ds.SeriesInstanceUID}
    assert uids(client.get("/dicom-web/instances"), "00080018") == {ds.SOPInstanceUID}
    # Searching inside the other study finds nothing: a search is never refused.
    assert client.get(f"/dicom-web/studies/{other.StudyInstanceUID}/series").json() == []
    assert client.get(f"/dicom-web/studies/{other.StudyInstanceUID}/instances").json() == []
    assert set(reads(client, ds).values()) == {200}
    assert reads(client, other) == {name: 404 for name in reads(client, other)}
    page = client.get("/", HTTP_ACCEPT="text/html").content.decode()
    assert ds.StudyInstanceUID in page and other.StudyInstanceUID not in page
    states = client.get("/worklist/states", {"uid": [ds.StudyInstanceUID, other.StudyInstanceUID]})
    assert set(states.json()["studies"]) == {ds.StudyInstanceUID}


def test_a_reader_granted_project_a_sees_exactly_a(django_user_model, two_studies):
    a, b, project_a = two_studies
    reader = user_with_role(django_user_model, "pat", "reader")
    project_a.users.add(reader)

    sees_exactly(logged_in(reader), a, b)


def test_a_group_grants_the_project_too(django_user_model, two_studies):
    a, b, project_a = two_studies
    research = Group.objects.create(name="research")
    reader = user_with_role(django_user_model, "gus", "reader")
    reader.groups.add(research)
    project_a.groups.add(research)

    sees_exactly(logged_in(reader), a, b)


def test_a_signed_dicom_json_link_for_another_study_is_404(django_user_model, two_studies):
    a, b, project_a = two_studies
    reader = user_with_role(django_user_model, "pat", "reader")
    project_a.users.add(reader)

    own = Client().get(
        f"/dicom-web/ohif-dicom-json/{signing.make_token(reader, [a.StudyInstanceUID])}"
    )
    other = Client().get(
        f"/dicom-web/ohif-dicom-json/{signing.make_token(reader, [b.StudyInstanceUID])}"
    )

    assert own.status_code == 200 and a.StudyInstanceUID in own.content.decode()
    assert other.status_code == 404 and b.StudyInstanceUID not in other.content.decode()


def test_an_admin_sees_both(admin_user, two_studies):
    a, b, _ = two_studies
    admin = logged_in(admin_user)

    assert uids(admin.get("/dicom-web/studies")) == {a.StudyInstanceUID, b.StudyInstanceUID}
    assert set(reads(admin, b).values()) == {200}


@pytest.mark.parametrize("setting, sees", [("all", 2), ("none", 0)])
def test_readers_in_no_project(django_user_model, two_studies, settings, setting, sees):
    settings.READERS_WITHOUT_PROJECT = setting
    client = logged_in(user_with_role(django_user_model, "nils", "reader"))

    assert len(uids(client.get("/dicom-web/studies"))) == sees
    status = client.get(f"/dicom-web/studies/{two_studies[1].StudyInstanceUID}/metadata")
    assert status.status_code == (200 if sees else 404)


def test_studies_join_projects_by_rule_as_they_arrive(django_user_model):
    uploader = user_with_role(django_user_model, "uma", "uploader")
    by_ae = Project.objects.create(name="CT room", calling_ae_titles="CT1, CT2")
    by_site = Project.objects.create(name="North", institution_names="North*")
    by_referrer = Project.objects.create(name="Dr Who", referring_physicians="who^*")
    by_uploader = Project.objects.create(name="Uma's")
    by_uploader.uploaders.add(uploader)

    sent = ct_slice(rows=32, columns=32, seed=5)
    receive_one(sent, origin=Origin(door="dimse", calling_ae="CT2"))
    north = ct_slice(rows=32, columns=32, seed=6)
    north.InstitutionName = "North Hospital"
    receive_one(north)
    referred = ct_slice(rows=32, columns=32, seed=7)
    referred.ReferringPhysicianName = "Who^John"
    receive_one(referred)
    uploaded = ct_slice(rows=32, columns=32, seed=8)
    logged_in(uploader).post("/upload/", data=to_bytes(uploaded), content_type="application/dicom")
    unmatched = ct_slice(rows=32, columns=32, seed=9)
    unmatched.InstitutionName = "South"
    receive_one(unmatched, origin=Origin(door="dimse", calling_ae="MR1"))

    def members(project):
        return set(project.studies.values_list("study_instance_uid", flat=True))

    assert members(by_ae) == {sent.StudyInstanceUID}
    assert members(by_site) == {north.StudyInstanceUID}
    assert members(by_referrer) == {referred.StudyInstanceUID}
    assert members(by_uploader) == {uploaded.StudyInstanceUID}


def test_provider_groups_grant_a_project_and_taking_them_away_ends_it(two_studies):
    a, b, project_a = two_studies
    project_a.provider_groups = "research-a, other"
    project_a.save()
    claims = {"sub": "s1", "preferred_username": "rhea", "groups": ["reader", "research-a"]}

    user = user_from_claims("https://sso.example", claims)
    sees_exactly(logged_in(user), a, b)

    user = user_from_claims("https://sso.example", {**claims, "groups": ["reader"]})
    assert not user.provider_projects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_oidc_user_whose_groups_claim_maps_to_project_a(oidc_settings):
    a = store(11, patient_id="PID-A")
    b = store(12, patient_id="PID-B")
    project_a = Project.objects.create(name="Research A", provider_groups="research-a")
    project_a.studies.add(Study.objects.get(study_instance_uid=a.StudyInstanceUID))
    session = requests.Session()

    _, back = login(session, oidc_settings.site, "rhea", "rhea-pw")

    assert back.status_code == 200
    site = oidc_settings.site
    found = session.get(site + "/dicom-web/studies", timeout=10).json()
    assert [item["0020000D"]["Value"][0] for item in found] == [a.StudyInstanceUID]
    for ds, status in ((a, 200), (b, 404)):
        study = f"{site}/dicom-web/studies/{ds.StudyInstanceUID}"
        assert session.get(f"{study}/metadata", timeout=10).status_code == status
        assert session.get(f"{study}/thumbnail", timeout=10).status_code == status
        assert session.get(site + wado_uri(ds), timeout=10).status_code == status
    page = session.get(site + "/", headers={"Accept": "text/html"}, timeout=10).text
    assert a.StudyInstanceUID in page and b.StudyInstanceUID not in page


def test_a_membership_change_takes_effect_at_once(django_user_model, two_studies, settings):
    settings.READERS_WITHOUT_PROJECT = "none"
    a, b, project_a = two_studies
    reader = user_with_role(django_user_model, "pat", "reader")
    client = logged_in(reader)
    assert uids(client.get("/dicom-web/studies")) == set()

    project_a.users.add(reader)
    assert uids(client.get("/dicom-web/studies")) == {a.StudyInstanceUID}
    research = Group.objects.create(name="research")
    research.projects.add(Project.objects.get(name="B"))
    reader.groups.add(research)
    assert uids(client.get("/dicom-web/studies")) == {a.StudyInstanceUID, b.StudyInstanceUID}
    project_a.users.remove(reader)
    Project.objects.get(name="B").groups.clear()
    assert uids(client.get("/dicom-web/studies")) == set()


def test_an_admin_puts_every_study_of_a_worklist_search_into_a_project(
    admin_user, django_user_model
):
    ct = [store(seed, patient_name=f"Bulk^B{seed}") for seed in (31, 32)]
    other = store(33, patient_name="Other^O")
    project = Project.objects.create(name="Bulk")
    admin = logged_in(admin_user)

    page = admin.get("/", {"name": "bulk*"}, HTTP_ACCEPT="text/html").content.decode()
    assert (
        'action="/worklist/projects/assign"' in page
        and "Add every study of this search (2)" in page
    )
    done = admin.post(
        "/worklist/projects/assign", {"project": project.pk, "query": "name=bulk%2A"}, follow=True
    )
    again = admin.post(
        "/worklist/projects/assign", {"project": project.pk, "query": "name=bulk%2A"}
    )

    assert "2 studies of this search are in project Bulk." in done.content.decode()
    assert again.status_code == 302
    assert set(project.studies.values_list("study_instance_uid", flat=True)) == {
        ds.StudyInstanceUID for ds in ct
    }
    assert other.StudyInstanceUID not in set(
        project.studies.values_list("study_instance_uid", flat=True)
    )
    reader = logged_in(user_with_role(django_user_model, "rob", "reader"))
    assert reader.post("/worklist/projects/assign", {"project": project.pk}).status_code == 403
    assert (
        'action="/worklist/projects/assign"'
        not in reader.get("/", HTTP_ACCEPT="text/html").content.decode()
    )
