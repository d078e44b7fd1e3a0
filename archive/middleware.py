"""A bucket out of reach is a passing condition of the service, not a bug: every view (DICOMweb,
WADO-URI, the worklist's downloads) answers 503 with Retry-After instead of 500, and the next
request tries the bucket again (boto3 reconnects on its own)."""

import logging

from django.http import JsonResponse

from .stores import StorageUnavailable

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


class StorageUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, StorageUnavailable):
            return None
        log.warning("%s %s: %s", request.method, request.path, exception)
        response = JsonResponse({"detail": str(exception)}, status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
