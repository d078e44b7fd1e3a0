"""Logging filters. A refusal (403) is an everyday answer, not a fault: Django logs it with the
exception's traceback, which buries real errors in the log; we keep its one line."""

import logging

from django.core.exceptions import PermissionDenied


class OneLineRefusals(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], PermissionDenied):
            record.exc_info = None
            record.exc_text = None
        return True
