"""Run the DICOM listener (C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET) until stopped."""

import logging
import signal

from django.conf import settings
from django.core.management.base import BaseCommand

from dicomnet import listener


class Command(BaseCommand):
    help = "Listen for DICOM associations on DICOM_PORT as DICOM_AE_TITLE."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=None, help="default: DICOM_PORT")
        parser.add_argument("--bind", default=None, help="default: DICOM_BIND")

    def handle(self, *args, port=None, bind=None, **options):
        port = settings.DICOM_PORT if port is None else port
        bind = bind or settings.DICOM_BIND
        if port == 0:
            self.stdout.write("DICOM_PORT is 0: no DICOM listener")
            return
        if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
            # pynetdicom logs every message of every association at INFO (a line per instance
            # received); its warnings and errors are kept, the access log has the rest.
            logging.getLogger("pynetdicom").setLevel(logging.WARNING)
        server = listener.start(bind, port, block=False)
        self.stdout.write(
            f"DICOM listener {settings.DICOM_AE_TITLE} on {bind}:{port} "
            f"(at most {settings.DICOM_MAX_ASSOCIATIONS} associations)",
        )
        stopping = []
        # TERM (run.sh, compose) and Ctrl-C stop it the same way: no new associations, then
        # pynetdicom closes the socket.
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        try:
            while not stopping:
                signal.pause()
        except KeyboardInterrupt:
            pass
        finally:
            listener.stop(server)
            self.stdout.write("DICOM listener stopped")
