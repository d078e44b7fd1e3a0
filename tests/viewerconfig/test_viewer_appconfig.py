"""window.config built from the data-source rows and viewer settings, and served as
app-config.js from the database on every request."""

import json

import pytest

from viewerconfig.appconfig import SiteUrls, build_app_config, to_js
from viewerconfig.defaults import create_default_data_sources
from viewerconfig.models import DICOMJSON_NAMESPACE, DICOMWEB_NAMESPACE, DataSource, ViewerSettings

URLS = SiteUrls(
    viewer="/ohif", dicomweb="https://pacs.test/dicom-web", wado_uri="https://pacs.test/wado"
)


def parse(js: str) -> dict:
    assert js.startswith("window.config = ") and js.endswith(";\n")
    return json.loads(js[len("window.config = ") : -2])


def archive_source(**kw) -> DataSource:
    fields = {"name": "dicomweb", "friendly_name": "Here", "is_archive": True, "is_default": True}
    return DataSource(**{**fields, **kw})


def test_archive_roots_come_from_the_request():
    config = build_app_config(ViewerSettings(), [archive_source()], urls=URLS)
    (entry,) = config["dataSources"]
    assert entry["namespace"] == DICOMWEB_NAMESPACE
    assert entry["sourceName"] == "dicomweb"
    c = entry["configuration"]
    assert c["qidoRoot"] == c["wadoRoot"] == c["stowRoot"] == "https://pacs.test/dicom-web"
    assert c["wadoUriRoot"] == "https://pacs.test/wado"
    assert config["defaultDataSourceName"] == "dicomweb"
    assert config["routerBasename"] == "/ohif"
    assert "oidc" not in config
    # OHIF 3.13 plays a film only from its rendered URL (singlepart video): always so here.
    assert c["singlepart"] == "video"
    chosen = build_app_config(ViewerSettings(), [archive_source(singlepart="pdf")], urls=URLS)
    assert chosen["dataSources"][0]["configuration"]["singlepart"] == "pdf,video"


def test_every_dicomweb_option_is_rendered():
    remote = DataSource(
        name="orthanc",
        friendly_name="Orthanc",
        qido_root="https://orthanc.test/dicom-web",
        wado_uri_root="https://orthanc.test/wado",
        stow_root="https://orthanc.test/dicom-web",
        qido_supports_include_field=False,
        supports_reject=True,
        supports_fuzzy_matching=True,
        supports_wildcard=False,
        static_wado=True,
        image_rendering="wadouri",
        thumbnail_rendering="rendered",
        thumbnail_request_strategy="fetch",
        enable_study_lazy_load=False,
        dicom_upload_enabled=True,
        singlepart="bulkdata,video",
        accept_header="multipart/related; type=application/octet-stream; transfer-syntax=*",
        request_transfer_syntax_uid="1.2.840.10008.1.2.1",
        omit_quotation_for_multipart_request=False,
        bulk_data_uri_enabled=True,
        bulk_data_uri_relative_resolution="studies",
        bulk_data_uri_starts_with="http://internal/",
        bulk_data_uri_prefix_with="https://orthanc.test/",
        query_limit=50,
        advanced={"supportsStow": True, "bulkDataURI": {"relativeResolution": "series"}},
    )
    c = build_app_config(ViewerSettings(), [remote], urls=URLS)["dataSources"][0]["configuration"]
    assert c == {
        "friendlyName": "Orthanc",
        "name": "orthanc",
        "qidoRoot": "https://orthanc.test/dicom-web",
        "wadoRoot": "https://orthanc.test/dicom-web",
        "wadoUriRoot": "https://orthanc.test/wado",
        "stowRoot": "https://orthanc.test/dicom-web",
        "qidoSupportsIncludeField": False,
        "supportsReject": True,
        "supportsFuzzyMatching": True,
        "supportsWildcard": False,
        "staticWado": True,
        "imageRendering": "wadouri",
        "thumbnailRendering": "rendered",
        "thumbnailRequestStrategy": "fetch",
        "enableStudyLazyLoad": False,
        "dicomUploadEnabled": True,
        "singlepart": "bulkdata,video",
        "acceptHeader": ["multipart/related; type=application/octet-stream; transfer-syntax=*"],
        "requestTransferSyntaxUID": "1.2.840.10008.1.2.1",
        "omitQuotationForMultipartRequest": False,
        "bulkDataURI": {
            "enabled": True,
            "relativeResolution": "series",
            "startsWith": "http://internal/",
            "prefixWith": "https://orthanc.test/",
        },
        "queryLimit": 50,
        "supportsStow": True,
    }


def test_dicom_json_source_and_viewer_settings():
    json_source = DataSource(
        name="dicomjson",
        friendly_name="JSON",
        kind="dicomjson",
        allowed_origins="https://pacs.test\nhttps://other.test",
    )
    viewer = ViewerSettings(
        router_basename="/viewer-root",
        show_study_list=False,
        modes=["@ohif/mode-test"],
        investigational_use_dialog="configure",
        investigational_use_days=3,
        oidc_enabled=True,
        oidc_authority="https://idp.test/realms/x",
        oidc_client_id="ohif",
        advanced={"maxNumberOfWebWorkers": 1, "maxNumRequests": {"prefetch": 5}},
    )
    config = build_app_config(viewer, [archive_source(), json_source], urls=URLS)
    assert config["dataSources"][1] == {
        "namespace": DICOMJSON_NAMESPACE,
        "sourceName": "dicomjson",
        "configuration": {
            "friendlyName": "JSON",
            "name": "json",
            "wadoRoot": "https://pacs.test/dicom-web",
            "dangerouslyAllowedOriginsForAuthenticatedEnvironments": [
                "https://pacs.test",
                "https://other.test",
            ],
        },
    }
    assert config["routerBasename"] == "/viewer-root"
    assert config["showStudyList"] is True  # the back arrow, which leads to the worklist
    assert config["modes"] == ["@ohif/mode-test"]
    assert config["investigationalUseDialog"] == {"option": "configure", "days": 3}
    assert config["oidc"][0]["authority"] == "https://idp.test/realms/x"
    assert config["oidc"][0]["client_id"] == "ohif"
    assert config["oidc"][0]["useAuthorizationCodeFlow"] is True
    assert config["maxNumberOfWebWorkers"] == 1
    assert config["maxNumRequests"] == {"interaction": 100, "thumbnail": 75, "prefetch": 5}


def test_to_js_is_json_even_for_hostile_text():
    source = archive_source(friendly_name='x"; alert(1); "</script>\u2028')
    js = to_js(build_app_config(ViewerSettings(), [source], urls=URLS))
    assert parse(js)["dataSources"][0]["configuration"]["friendlyName"] == source.friendly_name


@pytest.mark.django_db
def test_served_from_the_database_on_every_request(admin_client):
    response = admin_client.get("/ohif/app-config.js")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript; charset=utf-8"
    assert response["Cache-Control"] == "no-store"
    config = parse(response.content.decode())
    assert config["defaultDataSourceName"] == "dicomweb"
    assert [s["sourceName"] for s in config["dataSources"]] == ["dicomweb", "dicomjson"]
    assert config["dataSources"][0]["configuration"]["qidoRoot"] == "http://testserver/dicom-web"
    assert config["routerBasename"] == "/ohif"

    DataSource.objects.create(
        name="remote", friendly_name="Remote", qido_root="https://r.test/dicom-web", is_default=True
    )
    DataSource.objects.filter(name="dicomjson").update(enabled=False)
    config = parse(admin_client.get("/ohif/app-config.js").content.decode())
    assert config["defaultDataSourceName"] == "remote"
    assert [s["sourceName"] for s in config["dataSources"]] == ["dicomweb", "remote"]
    assert DataSource.objects.get(name="dicomweb").is_default is False


@pytest.mark.django_db
def test_default_sources_are_created_once(django_db_blocker):
    from django.apps import apps

    assert DataSource.objects.count() == 2
    archive = DataSource.objects.get(is_default=True)
    assert (archive.name, archive.kind, archive.is_archive) == ("dicomweb", "dicomweb", True)
    create_default_data_sources(apps.get_app_config("viewerconfig"), apps=apps)
    assert DataSource.objects.count() == 2
    DataSource.objects.all().delete()
    create_default_data_sources(apps.get_app_config("viewerconfig"), apps=apps)
    assert DataSource.objects.filter(is_default=True).get().name == "dicomweb"
