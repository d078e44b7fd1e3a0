"""Builds OHIF's ``window.config`` from the admin-edited rows: a plain dict, then ``to_js`` writes
``window.config = <JSON>;``. No JavaScript is templated, so nothing an admin types can become
code. Knows nothing of HTTP: the per-request URLs come in as a ``SiteUrls``.
"""

import copy
import json
import urllib.parse
from dataclasses import dataclass

from django.conf import settings

from .models import DataSource, Htj2kDelivery, Kind, ViewerSettings

# OHIF 3.13's own defaults (platform/app/public/config/default.js), minus its functions and
# its demo data source. Admins change them through ViewerSettings.advanced.
OHIF_DEFAULTS = {
    "extensions": [],
    "modes": [],
    "customizationService": {},
    "showStudyList": True,
    "maxNumberOfWebWorkers": 3,
    "showWarningMessageForCrossOrigin": True,
    "showCPUFallbackMessage": True,
    "showLoadingIndicator": True,
    "experimentalStudyBrowserSort": False,
    "strictZSpacingForVolumeViewport": True,
    "groupEnabledModesFirst": True,
    "allowMultiSelectExport": False,
    "maxNumRequests": {"interaction": 100, "thumbnail": 75, "prefetch": 25},
    "showErrorDetails": "always",
}

# OHIF's first-visit tours (the default extension's "ohif.tours" customization) replaced by
# none, in the customization service's immutability-helper syntax.
NO_TOURS = {"ohif.tours": {"$set": []}}

# Keys the data-source rows own; ViewerSettings.advanced may not set them.
RESERVED_KEYS = ("dataSources", "defaultDataSourceName")


@dataclass(frozen=True)
class SiteUrls:
    """Where this site's pieces are for the current request (absolute URLs, no trailing /)."""

    viewer: str  # path OHIF is served under, e.g. "/ohif" or "/pacs/ohif"
    dicomweb: str  # e.g. "https://host/pacs/dicom-web"
    wado_uri: str  # e.g. "https://host/pacs/wado"


@dataclass(frozen=True)
class Allowed:
    """What the user the config is for may do: OHIF offers no button that would only fail."""

    store: bool = True  # OHIF's upload (STOW-RS): the uploader role
    delete: bool = True  # OHIF's reject (deletes a series here): the admin role


def build_app_config(
    viewer: ViewerSettings,
    sources: list[DataSource],
    *,
    urls: SiteUrls,
    allowed: Allowed = Allowed(),
) -> dict:
    config = copy.deepcopy(OHIF_DEFAULTS)
    config.update(
        {
            "routerBasename": viewer.router_basename or urls.viewer,
            # Shows the back arrow; the viewer's index.html sends it to the archive's worklist
            # (assets.WAY_BACK), and /ohif/ is OHIF's list only when ViewerSettings offers it.
            "showStudyList": True,
            "showErrorDetails": viewer.show_error_details,
            "modes": list(viewer.modes),
            "extensions": list(viewer.extensions),
            "investigationalUseDialog": _investigational_use(viewer),
            "dataSources": [data_source_entry(source, urls=urls) for source in sources],
        }
    )
    default = next((s for s in sources if s.is_default), sources[0] if sources else None)
    if default is not None:
        config["defaultDataSourceName"] = default.name
    if viewer.oidc_enabled:
        config["oidc"] = [oidc_entry(viewer)]
    if not viewer.show_tour:
        config["customizationService"] = merged(config["customizationService"], NO_TOURS)
    config = merged(config, viewer.advanced or {})
    for source in config.get("dataSources", []):  # last, so no advanced setting brings them back
        configuration = source.get("configuration", {})
        if not allowed.store and "dicomUploadEnabled" in configuration:
            configuration["dicomUploadEnabled"] = False
        if not allowed.delete and "supportsReject" in configuration:
            configuration["supportsReject"] = False
    return config


def data_source_entry(source: DataSource, *, urls: SiteUrls) -> dict:
    if source.kind == Kind.DICOMJSON:
        # wadoRoot: where OHIF's DICOM JSON source builds the rendered URL of a video or
        # document it has no other URL for (and the thumbnail of a video).
        configuration = {
            "friendlyName": source.friendly_name,
            "name": "json",
            "wadoRoot": urls.dicomweb,
        }
        if origins := _lines(source.allowed_origins):
            configuration["dangerouslyAllowedOriginsForAuthenticatedEnvironments"] = origins
    else:
        configuration = _dicomweb_configuration(source, urls)
    return {
        "namespace": source.namespace,
        "sourceName": source.name,
        "configuration": merged(configuration, source.advanced or {}),
    }


def _dicomweb_configuration(source: DataSource, urls: SiteUrls) -> dict:
    if source.is_archive:
        qido = wado = urls.dicomweb
        wado_uri = urls.wado_uri
    else:
        qido, wado, wado_uri = source.qido_root, source.wado_root, source.wado_uri_root
    configuration = {
        "friendlyName": source.friendly_name,
        "name": source.name,
        "qidoRoot": qido,
        "wadoRoot": wado or qido,
        "wadoUriRoot": wado_uri,
        "qidoSupportsIncludeField": source.qido_supports_include_field,
        "supportsReject": source.supports_reject,
        "supportsFuzzyMatching": source.supports_fuzzy_matching,
        "supportsWildcard": source.supports_wildcard,
        "staticWado": source.static_wado,
        "imageRendering": source.image_rendering,
        "thumbnailRendering": source.thumbnail_rendering,
        "enableStudyLazyLoad": source.enable_study_lazy_load,
        "dicomUploadEnabled": source.dicom_upload_enabled,
        "singlepart": _singlepart(source),
        "omitQuotationForMultipartRequest": source.omit_quotation_for_multipart_request,
        "bulkDataURI": _bulk_data_uri(source),
    }
    optional = {
        # OHIF 3.14 stores (upload, SR/SEG/RTSTRUCT saves) at stowRoot; this archive's is its
        # DICOMweb root (POST /studies). 3.13 ignores it.
        "stowRoot": urls.dicomweb if source.is_archive else source.stow_root,
        "thumbnailRequestStrategy": source.thumbnail_request_strategy,
        "acceptHeader": _lines(source.accept_header),
        "requestTransferSyntaxUID": source.request_transfer_syntax_uid,
        "queryLimit": source.query_limit,
    }
    configuration.update({key: value for key, value in optional.items() if value})
    configuration.update(_htj2k(source, configuration.get("acceptHeader")))
    return configuration


# HTJ2K Lossless RPCL: the syntax Cornerstone decodes from a prefix (its streamable syntaxes).
HTJ2K_FRAMES = (
    "multipart/related; type=application/octet-stream; transfer-syntax=1.2.840.10008.1.2.4.202"
)
ANY_FRAMES = "multipart/related; type=application/octet-stream; transfer-syntax=*"
RANGE_CHUNK = 65536
# A streamed frame is decoded again each time this much more of it has come (Cornerstone's
# default: 128 KB). A 512² CT slice is about 180 KB in HTJ2K: with the default, one slice in six
# on loopback and nearly every one at 20 Mbit/s was decoded twice (at 73 % of its bytes, to
# full size). At 256 KB such frames are decoded once, when whole; a radiograph of megabytes
# still shows from its first 256 KB.
STREAM_CHUNK = 262144


def htj2k_delivery(source: DataSource) -> str:
    """The source's delivery with ``auto`` resolved: streamed for this archive when it makes
    renditions, off otherwise."""
    if source.htj2k_delivery != Htj2kDelivery.AUTO:
        return source.htj2k_delivery
    on = source.is_archive and settings.RENDITIONS
    return Htj2kDelivery.STREAMING if on else Htj2kDelivery.OFF


def _htj2k(source: DataSource, accept_header: list[str] | None) -> dict:
    """OHIF 3.13's options for HTJ2K progressive loading: ``acceptHeader`` asks HTJ2K first,
    the source's own lines (or any syntax) next, so frames without an HTJ2K copy still come;
    ``stackRetrieveOptions`` (immutability-helper spec read by the cornerstone extension)
    chooses how each image arrives: one streamed request decoded as it grows (OHIF's default
    stages, made explicit; decoded every ``STREAM_CHUNK`` bytes), or a first ranged request of
    64 KB and then the rest. Range requests carry no header from OHIF, so they name what they
    want with PS3.18's ``accept=`` query parameter."""
    delivery = htj2k_delivery(source)
    if delivery == Htj2kDelivery.OFF:
        return {}
    accept = [HTJ2K_FRAMES, *(accept_header or [ANY_FRAMES])]
    if delivery == Htj2kDelivery.STREAMING:
        retrieve = {"single": {"streaming": True, "decodeLevel": 1, "minChunkSize": STREAM_CHUNK}}
        return {"acceptHeader": accept, "stackRetrieveOptions": {"retrieveOptions": retrieve}}
    arguments = "accept=" + urllib.parse.quote(", ".join(accept), safe="")
    stages = [
        {"id": "lossySequential", "retrieveType": "singleFast"},
        {"id": "finalSequential", "retrieveType": "singleFinal"},
    ]
    retrieve = {
        "singleFast": {"rangeIndex": 0, "chunkSize": RANGE_CHUNK, "urlArguments": arguments},
        "singleFinal": {"rangeIndex": -1, "urlArguments": arguments},
    }
    spec = {"$set": {"stages": stages, "retrieveOptions": retrieve}}
    return {"acceptHeader": accept, "stackRetrieveOptions": spec}


def _singlepart(source: DataSource) -> str | bool:
    """This archive's films always come single-part from their rendered URL: OHIF 3.13's video
    handler, without ``video`` in ``singlepart``, hands Cornerstone the promise of a blob URL
    instead of a URL (it requests ``[object Object]``), so the film never plays."""
    kinds = [kind for kind in (source.singlepart or "").split(",") if kind]
    if source.is_archive and "video" not in kinds:
        kinds.append("video")
    return ",".join(kinds) or False


def _bulk_data_uri(source: DataSource) -> dict:
    bulk = {
        "enabled": source.bulk_data_uri_enabled,
        "relativeResolution": source.bulk_data_uri_relative_resolution,
    }
    if source.bulk_data_uri_starts_with:
        bulk["startsWith"] = source.bulk_data_uri_starts_with
        bulk["prefixWith"] = source.bulk_data_uri_prefix_with
    return bulk


def oidc_entry(viewer: ViewerSettings) -> dict:
    entry = {
        "authority": viewer.oidc_authority,
        "client_id": viewer.oidc_client_id,
        "redirect_uri": viewer.oidc_redirect_uri,
        "response_type": viewer.oidc_response_type,
        "scope": viewer.oidc_scope,
        "post_logout_redirect_uri": viewer.oidc_post_logout_redirect_uri,
        "automaticSilentRenew": viewer.oidc_automatic_silent_renew,
        "revokeAccessTokenOnSignout": viewer.oidc_revoke_access_token_on_signout,
        "useAuthorizationCodeFlow": viewer.oidc_response_type == "code",
    }
    if viewer.oidc_revoke_uri:
        entry["revoke_uri"] = viewer.oidc_revoke_uri
    return entry


def _investigational_use(viewer: ViewerSettings) -> dict:
    dialog = {"option": viewer.investigational_use_dialog}
    if viewer.investigational_use_dialog == "configure":
        dialog["days"] = viewer.investigational_use_days
    return dialog


def merged(base: dict, extra: dict) -> dict:
    """``extra`` over ``base``: objects merge key by key, anything else replaces."""
    result = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def to_js(config: dict) -> str:
    return "window.config = " + json.dumps(config, indent=2, ensure_ascii=False) + ";\n"


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]
