"""WADO-RS views (PS3.18 §10.4): retrieve study, series and instance, their metadata, frames
and bulk data. Rendered images and thumbnails are in ``rendered.py``.

Each view looks the rows up (``lookup``), picks what to send from what the stored file allows
(``accept``) and streams it (``multipart``). Files are read in chunks as the response goes out,
so a study of any size is never held in memory; frames stored in a transfer syntax the client
accepts are read from their byte ranges (``Instance.frame_offsets``) without parsing the file.
"""

import gzip
import hashlib
from collections.abc import Iterable, Iterator

from django.conf import settings
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.utils.cache import patch_vary_headers
from django.utils.http import parse_etags
from rest_framework.exceptions import NotAcceptable, NotFound, ParseError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import accesslog
from accounts.permissions import IsReader
from archive import bulkdata, caches, dicomjson, pixels, renditions, stores
from archive.models import Instance

from . import accept, byteranges, htj2k, lookup, metadata_docs, multipart
from .renderers import PrebuiltDicomJsonRenderer, PrebuiltPlainJsonRenderer
from .routing import dicomweb_base

CHUNK = 256 * 1024


class ViewNegotiates(BaseContentNegotiation):
    """Leave the choice to the view: what can be sent depends on the stored transfer syntax,
    which a fixed renderer list cannot express. The one renderer renders error bodies."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class WadoView(APIView):
    content_negotiation_class = ViewNegotiates
    renderer_classes = [JSONRenderer]
    permission_classes = [IsReader]


class RetrieveInstances(WadoView):
    """Retrieve Study, Series or Instance: Part-10 files, multipart/related (single part for
    one instance when asked). Stored encoding for ``transfer-syntax=*`` or none; decoded to
    Explicit VR Little Endian when that is asked."""

    def get(self, request, study, series=None, instance=None):
        if instance is None:
            rows = lookup.instances(study, series)
        else:
            rows = [lookup.instance(study, series, instance)]
        # A study or series taken away whole is a download; one instance, a viewer reading.
        accesslog.record(accesslog.A.DOWNLOAD if instance is None else accesslog.A.VIEW, [study])
        ranges = _accepted(request)
        single = instance is not None
        choices = []
        for row in rows:
            extra = htj2k.options(ranges, row, htj2k.INSTANCE_TYPES)
            offers = htj2k.with_rendition(accept.instance_offers(row.transfer_syntax_uid), extra)
            choice = accept.choose(ranges, offers, single_part=single)
            if choice is None and extra.fallback:
                choice = accept.choose(ranges, extra.fallback, single_part=single)
            if choice is None:
                raise NotAcceptable(
                    "can send application/dicom in its stored transfer syntax, decoded to "
                    "Explicit VR Little Endian (1.2.840.10008.1.2.1) or, for images, in HTJ2K "
                    "(1.2.840.10008.1.2.4.201, .202, .203), as multipart/related"
                )
            choices.append((row, choice, extra.rendition))
        row, choice, rendition = choices[0]
        if not choice.multipart:
            if isinstance(choice.offer, htj2k.RenditionOffer):
                return _file_response(request, rendition)
            if choice.offer.stored:
                return stored_file_response(request, row)
            if htj2k.on_the_fly(choice.offer):
                try:  # before the answer starts, so that a failure is still a 406
                    with stores.current().local_copy(row.file_path) as path:
                        return HttpResponse(_encoded_file(path), content_type=accept.DICOM)
                except renditions.RenditionError as exc:
                    raise NotAcceptable(str(exc)) from exc
            return _single_part(_instance_payload(row, choice.offer), accept.DICOM)
        parts = (
            (accept.part_content_type(choice.offer), _instance_payload(row, choice.offer, copy))
            for row, choice, copy in choices
        )
        return _multipart(parts, accept.DICOM)


class RetrieveMetadata(APIView):
    """Study, series or instance metadata (DICOM JSON) from the caches, with BulkDataURIs
    rooted at this request's DICOMweb address. Sent gzipped as stored when the client allows."""

    renderer_classes = [PrebuiltDicomJsonRenderer, PrebuiltPlainJsonRenderer]
    permission_classes = [IsReader]

    def get(self, request, study, series=None, instance=None):
        base = dicomweb_base(request)
        accesslog.record(accesslog.A.VIEW, [study])  # (an unknown study: 404 before a row)
        if instance is not None:
            row = lookup.instance(study, series, instance)
            return Response(metadata_docs.instance_document(caches.instance_metadata(row), base))
        if series is not None:
            series_rows = [lookup.series(study, series)]
        else:
            series_rows = lookup.series_of(lookup.study(study))
        etag = metadata_docs.etag(series_rows, base)
        if etag and (unchanged := not_modified(request, etag)):
            response = unchanged
        else:
            document = metadata_docs.series_document(series_rows, base)
            gzipped = accept.accepts_gzip(request.headers.get("Accept-Encoding"))
            response = Response(document if gzipped else gzip.decompress(document))
            if gzipped:
                response["Content-Encoding"] = "gzip"
            if etag:
                validated(response, etag)
        response["Vary"] = "Accept, Accept-Encoding"
        return response


class RetrieveFrames(WadoView):
    """Frames, one part each, labelled with their transfer syntax: the stored bytes when the
    client takes them (``transfer-syntax=*``, the stored syntax or its image/* type), else
    decoded to native little-endian pixels."""

    def get(self, request, study, series, instance, frame_list):
        row = lookup.instance(study, series, instance)
        accesslog.record(accesslog.A.VIEW, [study])
        if row.rows is None:
            raise NotFound(f"instance {instance} has no pixel data")
        numbers = lookup.frame_numbers(frame_list, row.number_of_frames or 1)
        choice, rendition = _choose_frames(request, row, single_part=len(numbers) == 1)
        etag = stored_etag(row, "frames", *numbers, choice, rendition and rendition.sha256)
        if unchanged := not_modified(request, etag):
            return unchanged
        indexes = [number - 1 for number in numbers]
        payloads = list(_frames(row, indexes, choice.offer, rendition))
        response = _respond(choice, payloads, boundary=byteranges.stable_boundary(etag))
        return byteranges.partial(request, validated(response, etag), etag=etag)


class RetrieveBulkdata(WadoView):
    """What a BulkDataURI names: pixel data (all frames, native, one part; or the stored
    compressed frames, one part each) or another binary element's raw value."""

    def get(self, request, study, series, instance, tag_path):
        row = lookup.instance(study, series, instance)
        accesslog.record(accesslog.A.VIEW, [study])
        path = dicomjson.parse_bulk_path(tag_path)
        if path is None:
            raise ParseError(f"{tag_path[:80]!r} is not a tag path (GGGGEEEE[/item/GGGGEEEE])")
        if path == bulkdata.PIXEL_DATA and row.rows is not None:
            return byteranges.partial(request, _pixel_bulkdata(request, row))
        with stores.current().local_copy(row.file_path) as file:
            found = bulkdata.read_value(file, path)
        if found is None:
            raise NotFound(f"instance {instance} has no bulk data at {tag_path}")
        value, media_type = found
        offers = [accept.Offer(accept.OCTET_STREAM, None)]
        if media_type:
            offers.append(accept.Offer(media_type, None))
        response = _respond(_choose(request, offers, single_part=True), [value])
        return byteranges.partial(request, embeddable(response))


def _pixel_bulkdata(request, row: Instance):
    if row.transfer_syntax_uid in accept.VIDEO_MEDIA_TYPES:
        return video_response(request, row)
    count = row.number_of_frames or 1
    choice, rendition = _choose_frames(request, row, single_part=True)
    if choice.offer.transfer_syntax == accept.EXPLICIT_VR_LITTLE_ENDIAN:
        whole = _frames(row, range(count), choice.offer)
        # Streamed, frame by frame; a ranged request gets the joined bytes to cut from.
        return _respond(choice, [b"".join(whole) if "Range" in request.headers else whole])
    if not choice.multipart and count > 1:
        raise NotAcceptable("compressed pixel data of several frames comes as multipart/related")
    payloads = list(_frames(row, range(count), choice.offer, rendition))
    return _respond(choice, payloads, boundary=byteranges.stable_boundary(stored_etag(row, "bulk")))


def video_response(request, row: Instance, *, rendered: bool = False) -> HttpResponse:
    """The MPEG stream of a video instance, streamed; as bulk data, single part unless
    multipart is asked; as its rendered form, always single part."""
    choice = _choose(request, accept.video_offers(row.transfer_syntax_uid), single_part=True)
    if rendered:
        choice = accept.Choice(choice.offer, multipart=False)
    return embeddable(_respond(choice, [_from_local_copy(row, bulkdata.encapsulated_stream)]))


def document_response(request, row: Instance) -> HttpResponse:
    """An encapsulated document (PDF, CDA...) as its rendered form: the document itself, single
    part, in its MIME type (what OHIF's PDF viewport loads with ``singlepart: pdf``)."""
    with stores.current().local_copy(row.file_path) as file:
        found = bulkdata.read_value(file, bulkdata.ENCAPSULATED_DOCUMENT)
    if found is None:
        raise NotFound(f"instance {row.sop_instance_uid} has no pixel data or document to render")
    value, media_type = found
    offers = [accept.Offer(media_type or accept.OCTET_STREAM, None)]
    choice = _choose(request, offers, single_part=True)
    return embeddable(_respond(accept.Choice(choice.offer, multipart=False), [value]))


def embeddable(response: HttpResponse) -> HttpResponse:
    """Headers for what browsers load by URL into <iframe> or <video> (PDF, video). Under the
    viewer's cross-origin isolation (COEP require-corp) Chromium embeds a resource only if it
    says it may be (CORP) and a framed document only if it is itself isolated (COEP)."""
    response["Cross-Origin-Resource-Policy"] = (
        "cross-origin" if settings.CORS_ALLOWED_ORIGINS else "same-origin"
    )
    response["Cross-Origin-Embedder-Policy"] = "require-corp"
    return response


def _accepted(request) -> tuple[accept.MediaRange, ...]:
    """The ``accept`` query parameter (PS3.18 §8.3.3.1) wins over the header: a browser loading
    a URL in <video> or <iframe> (OHIF's video and PDF viewports) cannot set headers."""
    return accept.parse(request.query_params.get("accept") or request.headers.get("Accept"))


def _choose(
    request, offers: list[accept.Offer], *, single_part: bool, fallback=()
) -> accept.Choice:
    """The first offer the client accepts; ``fallback`` (HTJ2K encoded on the fly) only when
    none of ``offers`` is."""
    choice = accept.choose(_accepted(request), offers, single_part=single_part)
    if choice is None and fallback:
        choice = accept.choose(_accepted(request), list(fallback), single_part=single_part)
    if choice is None:
        available = ", ".join(accept.part_content_type(o) for o in [*offers, *fallback])
        where = "" if single_part else " (several frames: multipart/related only)"
        raise NotAcceptable(f"can send {available}{where}")
    return choice


def _choose_frames(request, row: Instance, *, single_part: bool):
    """What the frames of ``row`` go out as, and the rendition they come from, if any."""
    extra = htj2k.options(_accepted(request), row, htj2k.FRAME_TYPES)
    ts = row.transfer_syntax_uid
    offers = accept.frame_offers(ts, bool(row.frame_offsets), decodable=pixels.can_decode(ts))
    offers = htj2k.with_rendition(offers, extra)
    choice = _choose(request, offers, single_part=single_part, fallback=extra.fallback)
    return choice, extra.rendition


def _frames(
    row: Instance, indexes: Iterable[int], offer: accept.Offer, rendition=None
) -> Iterator[bytes]:
    """Stored frames (the original's or its rendition's) each from their recorded byte ranges:
    one ranged GET from a bucket. Decoded or encoded frames from one local copy of the file,
    however many are asked."""
    store = stores.current()
    if isinstance(offer, htj2k.RenditionOffer):
        for index in indexes:
            yield store.read_pieces(rendition.file_path, rendition.frame_offsets[index])
        return
    if offer.stored:
        for index in indexes:
            yield store.read_pieces(row.file_path, row.frame_offsets[index])
        return
    with store.local_copy(row.file_path) as path:
        for index in indexes:
            yield _converted_frame(path, index, offer)


def _converted_frame(path, index: int, offer: accept.Offer) -> bytes:
    if htj2k.on_the_fly(offer):
        try:
            return renditions.encode_stored_frame(path, index)
        except renditions.RenditionError as exc:
            raise NotAcceptable(f"{exc}; ask for transfer-syntax=* for the stored bytes") from exc
    try:
        return pixels.decode_frame(path, index)
    except pixels.PixelError as exc:
        raise NotAcceptable(f"{exc}; ask for transfer-syntax=* to get the stored bytes") from exc


def _instance_payload(row: Instance, offer: accept.Offer, rendition=None) -> Iterator[bytes]:
    if isinstance(offer, htj2k.RenditionOffer):
        return stored_chunks(rendition.file_path)
    if offer.stored:
        return stored_chunks(row.file_path)
    if htj2k.on_the_fly(offer):
        # Part of a multipart answer already under way: a failure can only end the stream.
        return _from_local_copy(row, lambda path: iter([_encoded_file(path)]))
    return _from_local_copy(row, lambda path: iter([pixels.decompressed_file(path)]))


def _from_local_copy(row: Instance, chunks_of) -> Iterator[bytes]:
    """``chunks_of(path)`` over a local copy of the stored file, made when the response
    reaches it and removed when it is sent."""
    with stores.current().local_copy(row.file_path) as path:
        yield from chunks_of(path)


def _encoded_file(path) -> bytes:
    return renditions.encode_file(path).data


def stored_file_response(request, row: Instance) -> HttpResponse:
    """An instance's stored Part-10 file, which the WSGI server may send with sendfile(2),
    without Python; or 304 when the client holds these very bytes already."""
    return _file_response(request, row)


def _file_response(request, stored) -> HttpResponse:
    """``stored``: an Instance or a Rendition (a file_path, file_size and sha256)."""
    etag = stored_etag_of(stored.sha256, "file")
    if unchanged := not_modified(request, etag):
        return unchanged
    response = FileResponse(stores.current().open(stored.file_path), content_type=accept.DICOM)
    response["Content-Length"] = str(stored.file_size)  # a bucket's stream does not say
    return validated(response, etag)


# --- HTTP validators -------------------------------------------------------------------------
# A viewer opening a study again (a prior, a reload) asks for the same frames and files: with
# an ETag it revalidates them, and a 304 costs neither the file read nor the transfer. Frames
# and files are named by the stored file's SHA-256, so a replaced instance gets new ETags.


def stored_etag(row: Instance, *what) -> str:
    """A weak ETag for what is sent from ``row``'s stored file (multipart boundaries differ
    from answer to answer, the content does not)."""
    return stored_etag_of(row.sha256, *what)


def stored_etag_of(sha256: str, *what) -> str:
    key = hashlib.sha256(repr((sha256, *what)).encode()).hexdigest()[:32]
    return f'W/"{key}"'


def not_modified(request, etag: str) -> HttpResponse | None:
    """304 Not Modified when If-None-Match names ``etag`` (weak comparison) or is ``*``."""
    wanted = {
        tag.removeprefix("W/") for tag in parse_etags(request.headers.get("If-None-Match", ""))
    }
    if "*" in wanted or etag.removeprefix("W/") in wanted:
        return validated(HttpResponse(status=304), etag)
    return None


def validated(response: HttpResponse, etag: str) -> HttpResponse:
    response["ETag"] = etag
    response["Cache-Control"] = "private, no-cache"  # kept, but always revalidated: 304 is cheap
    patch_vary_headers(response, ("Accept",))
    return response


def stored_chunks(key: str) -> Iterator[bytes]:
    """Opened only when the response reaches this file, closed when it is sent."""
    with stores.current().open(key) as f:
        while chunk := f.read(CHUNK):
            yield chunk


def _respond(choice: accept.Choice, payloads: list, boundary: str | None = None) -> HttpResponse:
    """``payloads``: one per part, each bytes or an iterable of bytes (then streamed).
    ``boundary``: a stable one for answers that byte ranges may cut (see ``byteranges``)."""
    content_type = accept.part_content_type(choice.offer)
    if all(isinstance(p, bytes) for p in payloads):
        if not choice.multipart:
            return HttpResponse(payloads[0], content_type=content_type)
        boundary = boundary or multipart.new_boundary()
        response = HttpResponse(content_type=_multipart_type(choice.offer.media_type, boundary))
        # Written piece by piece, not joined: a frame is half a megabyte or more, and the
        # server sends the pieces one after the other without copying them into one.
        length = 0
        for chunk in multipart.encode(((content_type, [p]) for p in payloads), boundary):
            response.write(chunk)
            length += len(chunk)
        response["Content-Length"] = str(length)
        return response
    if not choice.multipart:
        return _single_part(payloads[0], content_type)
    return _multipart(((content_type, chunks) for chunks in payloads), choice.offer.media_type)


def _single_part(chunks: Iterable[bytes], content_type: str) -> StreamingHttpResponse:
    return StreamingHttpResponse(chunks, content_type=content_type)


def _multipart(parts, part_type: str) -> StreamingHttpResponse:
    boundary = multipart.new_boundary()
    return StreamingHttpResponse(
        multipart.encode(parts, boundary), content_type=_multipart_type(part_type, boundary)
    )


def _multipart_type(part_type: str, boundary: str) -> str:
    return f'multipart/related; type="{part_type}"; boundary={boundary}'
