"""Site-wide answers that belong to no app."""

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

FAVICON = settings.BASE_DIR / "static" / "favicon.svg"


@require_GET
@cache_control(max_age=86400, public=True)
def favicon(request):
    """Browsers ask for /favicon.ico on any page that names no icon (OHIF's, the API's, a
    file served raw); the archive's icon answers instead of a 404 (Chrome and Firefox take
    an SVG there)."""
    return HttpResponse(FAVICON.read_bytes(), content_type="image/svg+xml")
