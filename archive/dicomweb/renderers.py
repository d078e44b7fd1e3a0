"""DRF renderers for the DICOMweb media types, one media type per class.

Renderers only turn already-built data into bytes; they never query the database. DRF's
content negotiation picks one from the request's Accept header: views list
``DicomJsonRenderer`` first so that ``*/*`` or no Accept at all gets application/dicom+json.
"""

import json

from rest_framework.renderers import BaseRenderer, JSONRenderer

from archive import pixels


class DicomJsonRenderer(JSONRenderer):
    """DICOM JSON (PS3.18 Annex F) as ``application/dicom+json``: UTF-8, compact."""

    media_type = "application/dicom+json"
    format = "dicomjson"
    charset = None  # JSON is UTF-8 by definition (RFC 8259); no charset parameter
    compact = True
    ensure_ascii = False


class PlainJsonRenderer(DicomJsonRenderer):
    """The same DICOM JSON for clients that ask for ``application/json`` (dicomweb-client
    sends ``application/dicom+json, application/json``; some viewers send only the latter)."""

    media_type = "application/json"
    format = "json"


class _ErrorsAsJson:
    """Binary renderers still have to render DRF's error bodies ({"detail": ...}) readably."""

    def _error(self, data, renderer_context) -> bytes:
        response = (renderer_context or {}).get("response")
        if response is not None:
            response["Content-Type"] = "application/json"
        return json.dumps(data).encode()


class PrebuiltDicomJsonRenderer(_ErrorsAsJson, DicomJsonRenderer):
    """DICOM JSON that is already bytes (WADO-RS metadata from the caches, maybe gzipped):
    passed through untouched."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes):
            return data
        return super().render(data, accepted_media_type, renderer_context)


class PrebuiltPlainJsonRenderer(PrebuiltDicomJsonRenderer):
    media_type = "application/json"
    format = "json"


class _ImageRenderer(_ErrorsAsJson, BaseRenderer):
    """An 8-bit frame (``pixels.Rendered``) or already-encoded bytes (a cached thumbnail)."""

    charset = None
    render_style = "binary"
    image_format = "jpeg"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes):
            return data
        if isinstance(data, pixels.Rendered):
            return pixels.encode_image(data.array, self.image_format, data.quality)
        return self._error(data, renderer_context)


class JpegRenderer(_ImageRenderer):
    media_type = "image/jpeg"
    format = "jpeg"
    image_format = "jpeg"


class PngRenderer(_ImageRenderer):
    media_type = "image/png"
    format = "png"
    image_format = "png"


class _AsStoredRenderer(_ErrorsAsJson, BaseRenderer):
    """Lets DRF's negotiation accept the type of something sent as stored (a video's MPEG
    stream, an encapsulated PDF); the view sends the bytes itself, so only error bodies pass
    through here."""

    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes) else self._error(data, renderer_context)


class Mp4Renderer(_AsStoredRenderer):
    media_type = "video/mp4"
    format = "mp4"


class Mpeg2Renderer(_AsStoredRenderer):
    media_type = "video/mpeg2"
    format = "mpeg2"


class PdfRenderer(_AsStoredRenderer):
    media_type = "application/pdf"
    format = "pdf"
