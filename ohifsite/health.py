"""Health answers for load balancers and orchestrators, open to anyone (no data in them).

``/healthz`` (readiness): 200 when this process can serve requests, which needs the database;
503 when it cannot reach it. The broker and the shared cache are reported beside, without
changing the status: without them the archive still stores and serves (cache builds wait for
the broker, the cache falls back to the database), so taking the server out of rotation would
turn a degradation into an outage. An operator sees ``"status": "degraded"`` instead.

``/livez`` (liveness): 200 whenever the process answers at all; restart the process only when
this fails, never for a database outage that a restart cannot fix.
"""

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

OK, UNAVAILABLE = "ok", "unavailable"


@require_GET
@never_cache
def healthz(request):
    answer = {"database": database(), "broker": broker(), "cache": shared_cache()}
    if answer["database"] != OK:
        answer["status"] = "unavailable"
        return JsonResponse(answer, status=503)
    degraded = UNAVAILABLE in answer.values()
    answer["status"] = "degraded" if degraded else OK
    return JsonResponse(answer)


@require_GET
@never_cache
def livez(request):
    return JsonResponse({"status": "alive"})


def database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - any database failure means "not ready"
        return UNAVAILABLE
    return OK


def broker() -> str:
    from ohifsite.celery import app

    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        return OK  # folders under DATA_DIR, made at start
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=1)
    except Exception:  # noqa: BLE001 - whatever the transport raises, it is not reachable
        return UNAVAILABLE
    return OK


def shared_cache() -> str:
    """ "ok", "unavailable", or "local" for the per-process memory cache (no CACHE_URL)."""
    if not settings.SHARED_CACHE:
        return "local"
    return OK if cache.reachable() else UNAVAILABLE
