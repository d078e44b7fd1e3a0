"""Run the DICOM listener (C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET) until stopped."""

import contextlib
import gc
import logging
import os
import signal
import sys

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connections
from pynetdicom import _config

from dicomnet import listener


class Command(BaseCommand):
    help = "Listen for DICOM associations on DICOM_PORT as DICOM_AE_TITLE."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=None, help="default: DICOM_PORT")
        parser.add_argument("--bind", default=None, help="default: DICOM_BIND")
        parser.add_argument(
            "--processes", type=int, default=None, help="default: DICOM_LISTENER_PROCESSES"
        )

    def handle(self, *args, port=None, bind=None, processes=None, **options):
        port = settings.DICOM_PORT if port is None else port
        bind = bind or settings.DICOM_BIND
        processes = processes or settings.DICOM_LISTENER_PROCESSES
        if port == 0:
            self.stdout.write("DICOM_PORT is 0: no DICOM listener")
            return
        if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
            # pynetdicom logs every message of every association at INFO (a line per instance
            # received); its warnings and errors are kept, the access log has the rest. Its
            # handlers that describe each PDU and message, and every C-FIND identifier, are
            # turned off too: they format their text whatever the level (a tenth of a
            # search's time).
            logging.getLogger("pynetdicom").setLevel(logging.WARNING)
            _config.LOG_HANDLER_LEVEL = "none"
            _config.LOG_REQUEST_IDENTIFIERS = False
            _config.LOG_RESPONSE_IDENTIFIERS = False
        self.stdout.write(
            f"DICOM listener {settings.DICOM_AE_TITLE} on {bind}:{port} ({processes} "
            f"process{'es' if processes > 1 else ''}, at most "
            f"{settings.DICOM_MAX_ASSOCIATIONS} associations each)",
        )
        if processes == 1:
            serve(bind, port, shared_port=False)
        else:
            supervise(bind, port, processes)
        self.stdout.write("DICOM listener stopped")


def serve(bind: str, port: int, *, shared_port: bool) -> None:
    """Listen until TERM (run.sh, compose) or Ctrl-C: no new associations, then pynetdicom
    closes the socket."""
    server = listener.start(bind, port, block=False, shared_port=shared_port)
    # What is loaded by now (Django, pydicom's and pynetdicom's dictionaries, the AE) lasts as
    # long as the process: frozen, a full garbage collection no longer walks it. Such a
    # collection took about 90 ms, once every few C-FINDs of hundreds of answers.
    gc.freeze()
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    try:
        while not stopping:
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        listener.stop(server)


def supervise(bind: str, port: int, processes: int) -> None:
    """Several listening processes on one port (SO_REUSEPORT), forked from this one: the spool
    is cleared first, once. TERM or Ctrl-C here stops them all; one that dies stops the rest,
    and this process exits with an error for its supervisor (run.sh, compose) to restart."""
    listener.prepare_spool()
    connections.close_all()  # a forked child must not share the parent's connections
    children = []
    for _ in range(processes):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides
                serve(bind, port, shared_port=True)
            except BaseException:
                logging.getLogger(__name__).exception("DICOM listener process failed")
                code = 1
            finally:
                os._exit(code)
        children.append(pid)

    def stop_all(*_):
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop_all)
    failed = False
    try:
        while children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            if pid in children:
                children.remove(pid)
                if status != 0 and not failed:
                    failed = True
                    stop_all()
    except KeyboardInterrupt:
        stop_all()
        for child in children:
            os.waitpid(child, 0)
    if failed:
        sys.exit(1)
