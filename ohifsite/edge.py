"""Input refused before any view sees it, with 400 rather than a 500 from deeper down.

* NUL characters: PostgreSQL cannot store them in text, so a NUL in the path, the query, a
  cookie or Basic credentials failed at the first query that carried it (a user lookup, the
  access log) after the view had answered.
* A request body the server could not parse (a chunk size that is not hexadecimal, a body cut
  short): gunicorn raises its own exceptions from ``wsgi.input.read``, which Django does not
  know and answered with 500. ``guard_input`` turns them into ``BadRequest`` wherever the body
  is read (DRF parsers, Django's form parser, STOW).
"""

import base64
import binascii
from urllib.parse import parse_qsl, unquote_to_bytes

from django.core.exceptions import BadRequest
from django.http import JsonResponse

try:
    from gunicorn.http.errors import NoMoreData, ParseException

    BODY_ERRORS: tuple[type[BaseException], ...] = (NoMoreData, ParseException)
except ImportError:  # another WSGI server (runserver in development)
    BODY_ERRORS = ()


class UnreadableBody(BadRequest):
    pass


class GuardedInput:
    """``wsgi.input`` whose server-specific parse errors are ``UnreadableBody`` (400)."""

    def __init__(self, stream):
        self._stream = stream

    def _call(self, method, *args):
        try:
            return method(*args)
        except BODY_ERRORS as exc:
            raise UnreadableBody(f"malformed request body: {exc}") from exc

    def read(self, *args):
        return self._call(self._stream.read, *args)

    def readline(self, *args):
        return self._call(self._stream.readline, *args)

    def readlines(self, *args):
        return self._call(self._stream.readlines, *args)

    def __iter__(self):
        return iter(self.readline, b"")


def guard_input(application):
    """WSGI middleware around Django's application (ohifsite/wsgi.py)."""

    def guarded(environ, start_response):
        if BODY_ERRORS and "wsgi.input" in environ:
            environ["wsgi.input"] = GuardedInput(environ["wsgi.input"])
        return application(environ, start_response)

    return guarded


class RefuseNulMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if where := nul_in(request):
            # DRF's shape: API clients read "detail", which names the parameter at fault.
            detail = f"{where}: NUL characters are not accepted"
            return JsonResponse({"detail": detail}, status=400)
        return self.get_response(request)


def nul_in(request) -> str:
    """Where the request carries a NUL character (the query parameter's name), or ""."""
    if "\x00" in request.path:
        return "path"
    query = request.META.get("QUERY_STRING", "")
    if b"\x00" in unquote_to_bytes(query):
        for name, value in parse_qsl(query, keep_blank_values=True):
            if "\x00" in name or "\x00" in value:
                return name.replace("\x00", "") or "query"
        return "query"
    if any("\x00" in name or "\x00" in value for name, value in request.COOKIES.items()):
        return "cookie"
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            if b"\x00" in base64.b64decode(credentials.strip(), validate=True):
                return "credentials"
        except (binascii.Error, ValueError):
            pass  # malformed: refused with 401 by accounts.credentials
    return ""
