"""WADO-URI (PS3.18 §9): ``/wado?requestType=WADO&studyUID=&seriesUID=&objectUID=``.

``contentType=application/dicom`` returns the Part-10 file (``transferSyntax=*`` or the
stored syntax as stored; ``1.2.840.10008.1.2.1`` decoded). This is what OHIF's DICOM JSON
``dicomweb:`` urls and Cornerstone's wadouri loader fetch; they send a multipart Accept
header, which is ignored here as the parameters say what is wanted. ``contentType=image/jpeg``
(the default, per §9) or ``image/png`` returns a rendered frame, honouring ``frame``,
``windowCenter``/``windowWidth``, ``rows``/``columns`` and ``imageQuality``.
"""

from django.http import HttpResponse
from rest_framework.exceptions import NotAcceptable, ParseError

from accounts import accesslog
from archive import pixels, stores

from . import accept, lookup, rendered, wado

REQUIRED = ("studyUID", "seriesUID", "objectUID")
IMAGE_TYPES = {"image/jpeg": "jpeg", "image/png": "png"}


class RetrieveWadoUri(wado.WadoView):
    """The one WADO-URI resource; DICOMweb authentication and the reader role, as WADO-RS."""

    def get(self, request):
        params = request.query_params
        if params.get("requestType") != "WADO":
            raise ParseError("requestType must be WADO")
        missing = [name for name in REQUIRED if not params.get(name)]
        if missing:
            raise ParseError(f"missing parameter(s): {', '.join(missing)}")
        row = lookup.instance(params["studyUID"], params["seriesUID"], params["objectUID"])
        accesslog.record(accesslog.A.VIEW, [params["studyUID"]])
        content_type = params.get("contentType", "image/jpeg").split(";")[0].strip().lower()
        frame = _frame(params.get("frame"), row)
        if content_type == accept.DICOM:
            return _dicom(request, row, params.get("transferSyntax"))
        if content_type not in IMAGE_TYPES:
            raise NotAcceptable(
                f"contentType {content_type[:60]!r}: use application/dicom, image/jpeg or image/png"
            )
        if row.rows is None:
            raise NotAcceptable(
                "this instance has no pixel data; ask contentType=application/dicom"
            )
        window = None
        if params.get("windowCenter") is not None or params.get("windowWidth") is not None:
            window = rendered.parse_window(
                f"{params.get('windowCenter')},{params.get('windowWidth')}"
            )
        array = rendered.render(row, frame - 1, window)
        size = (_size(params.get("columns"), "columns"), _size(params.get("rows"), "rows"))
        array = pixels.fit(array, *size)
        quality = rendered.parse_quality(params.get("imageQuality"))
        body = pixels.encode_image(array, IMAGE_TYPES[content_type], quality)
        return HttpResponse(body, content_type=content_type)


def _dicom(request, row, transfer_syntax: str | None):
    if transfer_syntax in (None, "", "*", row.transfer_syntax_uid):
        return wado.stored_file_response(request, row)
    if transfer_syntax == accept.EXPLICIT_VR_LITTLE_ENDIAN:
        try:
            with stores.current().local_copy(row.file_path) as path:
                return HttpResponse(pixels.decompressed_file(path), content_type=accept.DICOM)
        except pixels.PixelError as exc:
            raise NotAcceptable(str(exc)) from exc
    raise NotAcceptable(
        f"transferSyntax {transfer_syntax[:64]}: this instance is stored as "
        f"{row.transfer_syntax_uid} and can also be sent as {accept.EXPLICIT_VR_LITTLE_ENDIAN}"
    )


def _frame(text: str | None, row) -> int:
    if text is None:
        return 1
    if "," in text:
        raise ParseError("frame is one frame number")
    return lookup.frame_numbers(text, row.number_of_frames or 1)[0]


def _size(text: str | None, name: str) -> int | None:
    if text is None:
        return None
    if not text.isdigit() or not 0 < int(text) <= 8192:
        raise ParseError(f"{name} must be a number of pixels (1-8192)")
    return int(text)
