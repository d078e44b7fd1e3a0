"""Rendered resources (PS3.18 §10.4.1.1.3) and thumbnails, as image/jpeg or image/png.

DRF negotiates the image type (JPEG first, so ``*/*`` and browsers get JPEG). Query
parameters: ``window=center,width[,function]`` (else the instance's own window), ``quality``
(JPEG, 1-100) and ``viewport=width,height`` (scale down to fit). Thumbnails show the middle
image of a series (the first series with images, for a study), are at most
``THUMBNAIL_SIZE`` pixels wide and high, and are kept in Django's cache keyed by the file's
hash, so a replaced file gets a new thumbnail and nothing needs invalidating.
"""

from django.conf import settings
from django.core.cache import cache
from rest_framework.exceptions import NotAcceptable, NotFound, ParseError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import accesslog
from accounts.permissions import IsReader
from archive import kinds, pixels, stores
from archive.models import Instance

from . import accept, lookup, wado
from .renderers import JpegRenderer, Mp4Renderer, Mpeg2Renderer, PdfRenderer, PngRenderer

THUMBNAIL_TIMEOUT = 7 * 24 * 3600


class RenderedView(APIView):
    renderer_classes = [JpegRenderer, PngRenderer]
    permission_classes = [IsReader]


class RetrieveRendered(RenderedView):
    """Rendered instance (its first frame; a video instance's MPEG stream as stored; an
    encapsulated document as itself, PS3.18 Table 8.3.5-1) or one rendered frame."""

    renderer_classes = [JpegRenderer, PngRenderer, Mp4Renderer, Mpeg2Renderer, PdfRenderer]

    def get(self, request, study, series, instance, frame_list=None):
        row = lookup.instance(study, series, instance)
        accesslog.record(accesslog.A.VIEW, [study])
        if row.rows is None and frame_list is None:
            return wado.document_response(request, row)
        if row.rows is None:
            raise NotFound(f"instance {instance} has no pixel data to render")
        video = row.transfer_syntax_uid in accept.VIDEO_MEDIA_TYPES
        if video and frame_list is None:
            return wado.video_response(request, row, rendered=True)
        if video or not isinstance(request.accepted_renderer, JpegRenderer | PngRenderer):
            raise NotAcceptable("video is sent as stored (rendered instance); frames as images")
        frame_list = frame_list or "1"
        numbers = lookup.frame_numbers(frame_list, row.number_of_frames or 1)
        if len(numbers) != 1:
            raise ParseError("rendered frames are served one frame at a time")
        params = request.query_params
        window = parse_window(params.get("window"))
        size = parse_pair(params.get("viewport"), "viewport")
        array = render(row, numbers[0] - 1, window)
        if size:
            array = pixels.fit(array, *size)
        return Response(pixels.Rendered(array, parse_quality(params.get("quality"))))


class RetrieveThumbnail(RenderedView):
    """Thumbnail of a study, series or instance (PS3.18 §10.4.1.1.4), small and cached: the
    middle image, or for what has none (a film, a PDF, a report, a segmentation) an icon of its
    kind, which the standard allows in place of a rendering, so a list never shows a broken
    image. Not logged: a list shows one per row, and a glance at a list is not a view."""

    def get(self, request, study, series=None, instance=None):
        if instance is not None:
            row = lookup.instance(study, series, instance)
        elif series is not None:
            rows = lookup.series(study, series).instance_set.all()
            row = lookup.middle_image(rows) or lookup.first_instance(rows)
        else:
            row = _study_image(lookup.study(study))
        if row is None:
            raise NotFound("nothing to make a thumbnail of")
        size = parse_pair(request.query_params.get("viewport"), "viewport") or (
            settings.THUMBNAIL_SIZE,
            settings.THUMBNAIL_SIZE,
        )
        image_format = request.accepted_renderer.image_format
        key = f"wado-thumbnail:{row.sha256}:{size[0]}x{size[1]}:{image_format}"
        body = cache.get(key)
        if body is None:
            kind = kinds.kind_of(row.sop_class_uid, row.transfer_syntax_uid, row.rows is not None)
            if kind == kinds.Kind.IMAGE:
                middle = (row.number_of_frames or 1) // 2
                array = pixels.fit(render(row, middle, None), *size)
            else:
                array = pixels.icon(kinds.label(kind, row.sop_class_uid), *size)
            body = pixels.encode_image(array, image_format, quality=80)
            cache.set(key, body, THUMBNAIL_TIMEOUT)
        response = Response(body)
        response["Cache-Control"] = "private, max-age=3600"
        return response


def _study_image(study) -> Instance | None:
    """The middle image of the first series that has images, else the first instance."""
    series_list = list(study.series_set.order_by("series_number", "id"))
    for series in series_list:
        row = lookup.middle_image(series.instance_set.all())
        if row is not None:
            return row
    for series in series_list:
        if row := lookup.first_instance(series.instance_set.all()):
            return row
    return None


def render(row: Instance, index: int, window: pixels.Window | None):
    try:
        with stores.current().local_copy(row.file_path) as path:
            return pixels.render_frame(path, index, window)
    except pixels.PixelError as exc:
        raise NotAcceptable(f"cannot render this instance: {exc}") from exc


def parse_window(text: str | None) -> pixels.Window | None:
    if text is None:
        return None
    try:
        return pixels.Window.parse(text)
    except ValueError as exc:
        raise ParseError(f"window: {exc}") from exc


def parse_quality(text: str | None) -> int:
    if text is None:
        return 90
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise ParseError("quality must be a whole number from 1 to 100")
    return int(text)


def parse_pair(text: str | None, name: str) -> tuple[int, int] | None:
    if text is None:
        return None
    parts = text.split(",")
    if len(parts) != 2 or not all(p.isdigit() and 0 < int(p) <= 8192 for p in parts):
        raise ParseError(f"{name} must be width,height in pixels (1-8192)")
    return int(parts[0]), int(parts[1])
