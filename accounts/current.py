"""The request being served, for code that acts for it without being handed it (the access log
from the deletion core and the ingest pipeline; the study scope from the query cores). Set by
``accounts.middleware.AccessLogMiddleware``; None outside a request (workers, commands, the
DICOM listener)."""

import contextvars

request: contextvars.ContextVar = contextvars.ContextVar("current_request", default=None)
