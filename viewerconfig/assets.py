"""The OHIF build's files as they must be served under a prefix (``/ohif/``, ``/pacs/ohif/``...).

The published build assumes it lives at ``/``: ``index.html`` links ``/app.bundle...js`` and sets
``window.PUBLIC_URL="/"``, the webpack runtime in the app and worker bundles has
``__webpack_require__.p = "/"`` (where lazily loaded chunks, workers and wasm come from), the
CSS loads its font from ``url(/...)`` and ``manifest.json`` lists ``/assets/...``. Those few
spots are rewritten for the prefix of the request (memoised per file and prefix); every other
file is sent as it is. Knows nothing of HTTP.
"""

import gzip
import html
import json
import mimetypes
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".wasm": "application/wasm",
    ".woff2": "font/woff2",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".webapp": "application/x-web-app-manifest+json",
}

# Bundles named by their content hash (app.bundle.0f6159c501addfe9.js, 5130ccb17e3f3f5b.wasm)
# never change under the same name: cache them for a year. Chunk CSS such as 1602.css is named
# by chunk id only, so it is not in this set; its URLs carry the build's id instead (``?v=``,
# see ``build_id``).
_HASHED = re.compile(r"(^|\.)[0-9a-f]{16}\.(js|css|wasm|woff2)$")
_APP_BUNDLE = re.compile(r"^app\.bundle\.([0-9a-f]{16})\.js$")

# The build's service worker caches index.html and app-config.js (defeating "a change in the
# admin is live at the next page load") and loads Workbox from a Google CDN: not registered.
_SERVICE_WORKER_TAG = re.compile(rb'<script[^>]*src="/init-service-worker\.js"[^>]*></script>')


def content_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def is_hashed(name: str) -> bool:
    return _HASHED.search(Path(name).name) is not None


def build_id(build_dir: Path) -> str:
    """The content hash in the name of the build's app bundle: another build, another id.
    The CSS the build names by chunk id (``2623.css``, and ``app.bundle.css``) is linked with
    ``?v=<id>``, so a browser may keep it as long as the hashed bundles (webpack waits for a
    chunk's CSS before it runs the chunk: one round trip per chunk when revalidated)."""
    return _build_id(str(build_dir), build_dir.stat().st_mtime_ns)


@lru_cache(maxsize=4)
def _build_id(build_dir: str, mtime_ns: int) -> str:
    for path in Path(build_dir).glob("app.bundle.*.js"):
        if match := _APP_BUNDLE.match(path.name):
            return match.group(1)
    return ""


def is_versioned(build_dir: Path, version: str | None) -> bool:
    """Whether a request's ``?v=`` names this build (an old page's does not)."""
    return bool(version) and version == build_id(build_dir)


def resolve(build_dir: Path, relative: str) -> Path | None:
    """The file ``relative`` names inside the build, or None (missing, a folder, or outside)."""
    if not relative or "\\" in relative or "\0" in relative:
        return None
    parts = relative.split("/")
    if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
        return None
    path = build_dir.joinpath(*parts)
    return path if path.is_file() else None


def looks_like_file(relative: str) -> bool:
    """Client routes (viewer, viewer/dicomjson, tmtv...) have no extension; files do."""
    return "." in relative.rsplit("/", 1)[-1]


def is_client_route(relative: str) -> bool:
    """OHIF's routes are ``<mode>`` or ``<mode>/<data source>`` (viewer, viewer/dicomjson,
    tmtv, local...): at most two segments without an extension. Anything deeper, such as
    ``viewer/undefined/studies/...`` (a relative DICOMweb URL resolved against the page), is
    not OHIF's and must be a 404, not its index.html."""
    segments = [segment for segment in relative.split("/") if segment]
    return len(segments) <= 2 and not looks_like_file(relative)


@dataclass(frozen=True)
class Body:
    data: bytes
    gzipped: bytes | None  # None when compressing does not pay


def needs_rewrite(path: Path) -> bool:
    return _needs_rewrite(str(path), path.stat().st_mtime_ns)


@lru_cache(maxsize=512)
def _needs_rewrite(path: str, mtime_ns: int) -> bool:
    suffix = Path(path).suffix
    if suffix not in (".html", ".js", ".css", ".json"):
        return False
    data = Path(path).read_bytes()
    return any(marker in data for marker in _MARKERS[suffix])


def rewritten(path: Path, prefix: str) -> Body:
    """The file with its root-relative references moved under ``prefix`` (ends with /)."""
    return _rewritten(str(path), path.stat().st_mtime_ns, prefix)


@lru_cache(maxsize=32)
def _rewritten(path: str, mtime_ns: int, prefix: str) -> Body:
    data = Path(path).read_bytes()
    data = _REWRITERS[Path(path).suffix](data, prefix, build_id(Path(path).parent))
    packed = gzip.compress(data, compresslevel=6, mtime=0)
    return Body(data, packed if len(packed) < len(data) * 0.9 else None)


def index_html(build_dir: Path, prefix: str, worklist: str, preload: tuple[str, ...] = ()) -> Body:
    """index.html under ``prefix``, with the way back to the archive's ``worklist`` URL, and
    the build's files named in ``preload`` (e.g. ``htj2k_decoder``) fetched from its start."""
    path = build_dir / "index.html"
    return _index_html(str(path), path.stat().st_mtime_ns, prefix, worklist, preload)


@lru_cache(maxsize=8)
def _index_html(path: str, mtime_ns: int, prefix: str, worklist: str, preload) -> Body:
    data = _html(Path(path).read_bytes(), prefix, build_id(Path(path).parent))
    # The browser fetches the manifest without credentials unless told: a 401 and a console
    # error on every viewer load, the viewer's files being for signed-in users only.
    data = data.replace(
        b'<link rel="manifest"', b'<link rel="manifest" crossorigin="use-credentials"'
    )
    way_back = WAY_BACK % (_js_string(worklist), _js_string(prefix))
    links = "".join(PRELOAD % html.escape(prefix + name) for name in preload)
    data = data.replace(b"</head>", (links + way_back).encode() + b"</head>", 1)
    packed = gzip.compress(data, compresslevel=6, mtime=0)
    return Body(data, packed if len(packed) < len(data) * 0.9 else None)


# OHIF's back arrow (shown while window.config.showStudyList is true) navigates inside the app
# to its own study list at the router's root: a second list, without the worklist's download,
# deletion, processing state or sign-out. OHIF 3.13 offers no setting for where it leads (only
# whether it shows), so the page sends any in-app navigation to the root to the worklist.
WAY_BACK = """<script>/* ohifsite: the way back is the archive's worklist */
(function (worklist, root) {
  var push = history.pushState;
  history.pushState = function (state, title, url) {
    var to = url == null ? null : new URL(url, location.href);
    var home = to && to.origin === location.origin && (to.pathname + "/").replace("//", "/");
    if (home === root) {
      location.assign(worklist);
      return;
    }
    return push.apply(this, arguments);
  };
})(%s, %s);
</script>"""


# A file the decode worker will fetch, fetched by the page as it starts: into the HTTP cache,
# where the worker's own request finds it (a preload's copy is the document's alone).
PRELOAD = '<link rel="preload" href="%s" as="fetch" crossorigin>'

# Cornerstone's HTJ2K decoder in the build: the decode worker's bundle ties the OpenJPH codec
# to its WebAssembly by module ids (``new URL(__webpack_require__(id))``).
_OPENJPH_URL = re.compile(
    rb"openjphWasm = new URL\(/\* asset import \*/__webpack_require__\((\d+)\)"
)
_ASSET_MODULE = (
    rb'(?<![0-9])%s\(module, [^)]*\) \{\s*"use strict";\s*'
    rb'module\.exports = __webpack_require__\.p \+ "([0-9a-f]+\.wasm)"'
)


def htj2k_decoder(build_dir: Path) -> str | None:
    """The file name of the build's HTJ2K decoder (OpenJPH WebAssembly, 2 MB, 0.6 MB gzipped),
    or None when the build has none that can be found. The decode worker fetches it when the
    first HTJ2K frame has arrived: at 20 Mbit/s a quarter of a second after the frame, plus its
    compilation, on the way to the first image."""
    return _htj2k_decoder(str(build_dir), build_dir.stat().st_mtime_ns)


@lru_cache(maxsize=4)
def _htj2k_decoder(build_dir: str, mtime_ns: int) -> str | None:
    for bundle in sorted(Path(build_dir).glob("*.bundle.*.js")):
        data = bundle.read_bytes()
        if b"openjphWasm" not in data:
            continue
        if (use := _OPENJPH_URL.search(data)) is None:
            continue
        if asset := re.search(_ASSET_MODULE % use.group(1), data):
            name = asset.group(1).decode()
            if (Path(build_dir) / name).is_file():
                return name
    return None


def _js_string(value: str) -> str:
    return json.dumps(value).replace("<", "\\u003c")


def _html(data: bytes, prefix: str, version: str) -> bytes:
    quoted = prefix.encode()
    data = _SERVICE_WORKER_TAG.sub(b"", data)
    data = re.sub(rb'((?:href|src|content)=")/(?!/)', rb"\g<1>" + quoted, data)
    if version:
        data = data.replace(b'app.bundle.css"', f'app.bundle.css?v={version}"'.encode())
    # OHIF (and its microscopy extension) resolve their own files from PUBLIC_URL.
    public = b"window.PUBLIC_URL=" + json.dumps(prefix).encode()
    return data.replace(b'window.PUBLIC_URL="/"', public)


def _js(data: bytes, prefix: str, version: str) -> bytes:
    data = data.replace(
        b'__webpack_require__.p = "/"', b"__webpack_require__.p = " + json.dumps(prefix).encode()
    )
    if version:  # webpack's chunk CSS names (mini-css-extract's runtime)
        data = data.replace(_CSS_CHUNK_NAME, _CSS_CHUNK_NAME[:-1] + f'?v={version}"'.encode())
    return data


_CSS_CHUNK_NAME = b'return "" + chunkId + ".css"'


def _css(data: bytes, prefix: str, version: str) -> bytes:
    return re.sub(rb"url\(/(?!/)", b"url(" + prefix.encode(), data)


def _json(data: bytes, prefix: str, version: str) -> bytes:
    return data.replace(b'"/assets/', b'"' + prefix.encode() + b"assets/")


_MARKERS = {
    ".html": (b'="/',),
    ".js": (b'__webpack_require__.p = "/"',),
    ".css": (b"url(/",),
    ".json": (b'"/assets/',),
}
_REWRITERS = {".html": _html, ".js": _js, ".css": _css, ".json": _json}
