"""Data sources and viewer settings edited in the Django admin: valid changes are saved and
show in the preview, invalid combinations are refused with a message saying what to fix."""

import json

import pytest

from viewerconfig.models import DataSource, ViewerSettings

pytestmark = pytest.mark.django_db

ADD = "/admin/viewerconfig/datasource/add/"


def form_data(**overrides) -> dict:
    """The add form as a browser posts it (unticked checkboxes are simply absent)."""
    data = {
        "name": "orthanc",
        "friendly_name": "Orthanc next door",
        "kind": "dicomweb",
        "enabled": "on",
        "position": "5",
        "qido_root": "https://orthanc.example.org/dicom-web/",
        "wado_root": "",
        "wado_uri_root": "",
        "stow_root": "",
        "qido_supports_include_field": "on",
        "supports_wildcard": "on",
        "image_rendering": "wadors",
        "thumbnail_rendering": "wadors",
        "thumbnail_request_strategy": "",
        "enable_study_lazy_load": "on",
        "singlepart": "bulkdata, video",
        "accept_header": "",
        "request_transfer_syntax_uid": "",
        "omit_quotation_for_multipart_request": "on",
        "bulk_data_uri_enabled": "on",
        "bulk_data_uri_relative_resolution": "series",
        "bulk_data_uri_starts_with": "",
        "bulk_data_uri_prefix_with": "",
        "query_limit": "",
        "allowed_origins": "",
        "advanced": "{}",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def errors(response) -> str:
    form = response.context["adminform"].form
    return json.dumps(form.errors.get_json_data())


def test_a_remote_archive_is_added_and_previewed(admin_client):
    response = admin_client.post(ADD, form_data())
    assert response.status_code == 302, errors(response)
    source = DataSource.objects.get(name="orthanc")
    assert source.qido_root == "https://orthanc.example.org/dicom-web"  # trailing / dropped
    assert source.singlepart == "bulkdata,video"
    assert source.is_default is False

    preview = admin_client.get("/admin/viewerconfig/viewersettings/preview/")
    text = preview.content.decode()
    assert preview.status_code == 200
    assert "window.config = " in text
    assert "https://orthanc.example.org/dicom-web" in text
    assert "http://testserver/dicom-web" in text


def test_making_a_source_default_takes_the_flag(admin_client):
    response = admin_client.post(ADD, form_data(is_default="on"))
    assert response.status_code == 302, errors(response)
    assert list(DataSource.objects.filter(is_default=True).values_list("name", flat=True)) == [
        "orthanc"
    ]


@pytest.mark.parametrize(
    "overrides, field, code_text",
    [
        ({"is_default": "on", "enabled": None}, "is_default", "cannot be the default"),
        ({"qido_root": ""}, "qido_root", "needs its qidoRoot"),
        ({"qido_root": "ftp://x/dicom-web"}, "qido_root", "is not a base URL"),
        ({"qido_root": "https://x/dicom-web?x=1"}, "qido_root", "is not a base URL"),
        ({"image_rendering": "wadouri"}, "wado_uri_root", "wadouri needs wadoUriRoot"),
        ({"singlepart": "bulkdata,everything"}, "singlepart", "everything"),
        ({"accept_header": "not a media type"}, "accept_header", "Not a media type"),
        ({"request_transfer_syntax_uid": "1.2.x"}, "request_transfer_syntax_uid", "not a UID"),
        ({"bulk_data_uri_starts_with": "http://a/"}, "bulk_data_uri_prefix_with", "go together"),
        ({"advanced": "[1, 2]"}, "advanced", "must be a JSON object"),
        ({"advanced": '{"transform": "url => url"}'}, "advanced", "JavaScript function"),
        ({"advanced": '{"x": "function () {}"}'}, "advanced", "JavaScript function"),
        ({"advanced": "{not json"}, "advanced", "JSON"),
        ({"allowed_origins": "https://a.test/path"}, "allowed_origins", "not an origin"),
        ({"is_archive": "on"}, "qido_root", "Leave the roots empty"),
    ],
)
def test_invalid_combinations_are_refused(admin_client, overrides, field, code_text):
    response = admin_client.post(ADD, form_data(**overrides))
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert field in form.errors, errors(response)
    assert code_text in " ".join(form.errors[field])
    assert not DataSource.objects.filter(name="orthanc").exists()


def test_the_default_cannot_be_untied_or_deleted(admin_client):
    archive = DataSource.objects.get(name="dicomweb")
    url = f"/admin/viewerconfig/datasource/{archive.pk}/change/"
    data = form_data(name="dicomweb", is_archive="on", qido_root="", is_default=None)
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "There must be one default" in " ".join(
        response.context["adminform"].form.errors["is_default"]
    )
    assert (
        admin_client.post(
            f"/admin/viewerconfig/datasource/{archive.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    assert DataSource.objects.filter(pk=archive.pk, is_default=True).exists()


def test_viewer_settings_are_one_row_with_preview(admin_client):
    response = admin_client.get("/admin/viewerconfig/viewersettings/")
    assert response.status_code == 302
    page = admin_client.get(response["Location"])
    assert page.status_code == 200
    assert b"app-config.js as the viewer loads it now" in page.content
    assert b"window.config = " in page.content


def viewer_form(**overrides) -> dict:
    data = {
        "router_basename": "",
        "show_study_list": "on",
        "show_error_details": "dev",
        "modes": "[]",
        "extensions": "[]",
        "investigational_use_dialog": "never",
        "investigational_use_days": "7",
        "oidc_redirect_uri": "/callback",
        "oidc_response_type": "code",
        "oidc_scope": "openid profile email",
        "oidc_post_logout_redirect_uri": "/",
        "oidc_revoke_uri": "",
        "oidc_authority": "",
        "oidc_client_id": "",
        "advanced": "{}",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


@pytest.mark.parametrize(
    "overrides, field, text",
    [
        ({"router_basename": "ohif"}, "router_basename", "starting with /"),
        ({"modes": '{"a": 1}'}, "modes", "JSON list"),
        ({"oidc_enabled": "on"}, "oidc_client_id", "Needed when OIDC"),
        ({"advanced": '{"dataSources": []}'}, "advanced", "edit the data sources"),
        ({"advanced": '{"httpErrorHandler": "e => 1"}'}, "advanced", "JavaScript function"),
    ],
)
def test_invalid_viewer_settings_are_refused(admin_client, overrides, field, text):
    settings = ViewerSettings.load()
    url = f"/admin/viewerconfig/viewersettings/{settings.pk}/change/"
    response = admin_client.post(url, viewer_form(**overrides))
    assert response.status_code == 200
    assert text in " ".join(response.context["adminform"].form.errors[field])


def test_viewer_settings_change_the_served_config(admin_client):
    settings = ViewerSettings.load()
    url = f"/admin/viewerconfig/viewersettings/{settings.pk}/change/"
    overrides = {
        "show_tour": "on",
        "show_error_details": "always",
        "advanced": '{"maxNumberOfWebWorkers": 1}',
    }
    response = admin_client.post(url, viewer_form(**overrides))
    assert response.status_code == 302
    config = admin_client.get("/ohif/app-config.js").content.decode()
    assert '"showErrorDetails": "always"' in config
    assert "ohif.tours" not in config
    assert '"maxNumberOfWebWorkers": 1' in config


def test_the_viewer_switches_default_to_what_clinicians_should_see(admin_client):
    """No tour over the first image, no stack traces, the back arrow shown (it leads to the
    worklist), OHIF's own list not offered."""
    config = admin_client.get("/ohif/app-config.js").content.decode()
    assert '"showErrorDetails": "dev"' in config
    assert '"ohif.tours": {\n      "$set": []' in config
    assert '"showStudyList": true' in config
    response = admin_client.get("/ohif/")
    assert response.status_code == 302 and response["Location"] == "/"


def test_query_limit_help_says_what_the_limit_hides(admin_client):
    page = admin_client.get("/admin/viewerconfig/datasource/add/").content.decode()
    assert "Studies past the limit do not appear in OHIF's list at all" in page
