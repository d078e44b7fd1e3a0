"""The DICOM listener (pynetdicom): which services it offers, who may associate, and thin
handlers that call the cores (``store``, ``find``, ``retrieve``) and count outcomes for the
access log (``audit``). Run by ``manage.py dicom_listener``.

Each association runs on its own thread (pynetdicom), with its own database connection,
closed when the association ends.
"""

import contextlib
import copy
import functools
import logging
import socket
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import pydicom
from django.conf import settings
from django.db import connections
from pydicom.uid import UID
from pynetdicom import (
    AE,
    ALL_TRANSFER_SYNTAXES,
    AllStoragePresentationContexts,
    _config,
    build_context,
    dimse_messages,
    evt,
)
from pynetdicom.association import Association
from pynetdicom.dsutils import decode
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)
from pynetdicom.transport import ThreadedAssociationServer

from accounts import projects
from archive import storage, stores, tasks

from . import audit, find, jsonbytes, pending, retrieve, store
from .models import RemoteAE
from .peers import contexts_for, with_timeouts

log = logging.getLogger(__name__)

# Received data sets are written to a file as they arrive, never held in memory.
_config.STORE_RECV_CHUNKED_DATASET = True


class SpoolFile:
    """The file pynetdicom writes a received data set to (it makes one per C-STORE with the
    ``NamedTemporaryFile`` of its ``dimse_messages`` module, replaced below), in the listener's
    spool folder. A write that fails (a full disk) does not raise in pynetdicom's network
    thread, which would drop the association: the error is kept, the bytes written so far are
    given back to the disk, the rest of the data set is read and dropped, and the C-STORE
    handler answers 0xA700 (out of resources)."""

    def __init__(self, *args, **kwargs):
        self._file = tempfile.NamedTemporaryFile(*args, dir=store.spool_dir(), **kwargs)  # noqa: SIM115
        self.name = self._file.name
        self.error: OSError | None = None
        self.file = self  # pynetdicom flushes ``.file``

    def write(self, data) -> int:
        if self.error is None:
            try:
                self._file.write(data)
            except OSError as exc:
                self._failed(exc)
        return len(data)

    def flush(self) -> None:
        if self.error is None:
            try:
                self._file.flush()
            except OSError as exc:
                self._failed(exc)

    def _failed(self, exc: OSError) -> None:
        self.error = exc
        with contextlib.suppress(OSError):
            self._file.truncate(0)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()


dimse_messages.NamedTemporaryFile = SpoolFile

PATIENT_ROOT = {
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelMove,
    PatientRootQueryRetrieveInformationModelGet,
}
QUERY_RETRIEVE = [
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelMove,
    PatientRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelGet,
]
# pynetdicom accepts, of the syntaxes a peer proposes in one context, the first in this list:
# lossless compressed first (a sender offering one has the data that way, and a C-GET
# receiver asking for one gets the stored file as it is), then uncompressed, then the rest
# (lossy and video, accepted only when nothing better is offered).
PREFERRED_SYNTAXES = [
    "1.2.840.10008.1.2.4.80",  # JPEG-LS lossless
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 lossless
    "1.2.840.10008.1.2.4.201",  # HTJ2K lossless
    "1.2.840.10008.1.2.4.202",  # HTJ2K lossless RPCL
    "1.2.840.10008.1.2.4.70",  # JPEG lossless SV1
    "1.2.840.10008.1.2.4.57",  # JPEG lossless
    "1.2.840.10008.1.2.5",  # RLE lossless
    "1.2.840.10008.1.2.1",  # explicit VR little endian
    "1.2.840.10008.1.2",  # implicit VR little endian
]
ACCEPTED_SYNTAXES = PREFERRED_SYNTAXES + [
    s for s in ALL_TRANSFER_SYNTAXES if s not in PREFERRED_SYNTAXES
]
NOT_AUTHORIZED = 0x0124
MOVE_DESTINATION_UNKNOWN = 0xA801
# A calling AE title no peer can have: with it in the list, an empty registry refuses all.
_NOBODY = "\\"


class SharedPortServer(ThreadedAssociationServer):
    """A listening socket that other processes may bind to the same port (SO_REUSEPORT): the
    kernel hands each new connection to one of them. Python runs one thread at a time per
    process, so several processes are what lets associations use several cores."""

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()


class ListenerAE(AE):
    """pynetdicom checks the calling AE title against ``require_calling_aet`` while it
    negotiates each association; here the list is the registry, read afresh each time."""

    shared_port = False

    def make_server(self, address, *args, server_class=None, **kwargs):
        if self.shared_port:
            server_class = SharedPortServer
        return super().make_server(address, *args, server_class=server_class, **kwargs)

    @property
    def require_calling_aet(self) -> list[str]:
        if settings.DICOM_ACCEPT_UNKNOWN_AES:
            return []
        return [*RemoteAE.objects.values_list("ae_title", flat=True), _NOBODY]

    @require_calling_aet.setter
    def require_calling_aet(self, titles) -> None:
        pass  # the registry decides (see the getter)


@dataclass
class Tally:
    """What one association did, written to the access log when it ends."""

    stores: Counter = field(default_factory=Counter)  # (study, outcome) -> instances
    retrievals: list = field(default_factory=list)  # SubOperations of C-MOVE and C-GET
    # Studies its stores changed, whose caches are built when it ends or BUILDS_EVERY
    # seconds after the first: a message a study, not one an instance. Each store has
    # committed by then, so the study's current generation is the one to build.
    builds: set = field(default_factory=set)
    builds_since: float | None = None
    may_store: bool | None = None  # whether the calling AE may store, once known

    def note_builds(self, result) -> None:
        self.builds.update(study for study, _ in tasks.builds_for(result))
        if self.builds and self.builds_since is None:
            self.builds_since = time.monotonic()
        if self.builds_since is not None and time.monotonic() - self.builds_since > BUILDS_EVERY:
            self.send_builds()

    def send_builds(self) -> None:
        builds, self.builds, self.builds_since = self.builds, set(), None
        tasks.schedule_cache_builds([(study, None) for study in sorted(builds)])


# A long association (a modality sending thousands of images) gets its studies' caches built
# while it goes on, at this pace.
BUILDS_EVERY = 30.0


_tallies: dict[int, Tally] = {}
_tallies_lock = threading.Lock()


def _tally(assoc) -> Tally:
    with _tallies_lock:
        return _tallies.setdefault(id(assoc), Tally())


def _peer(event) -> tuple[str, str]:
    requestor = event.assoc.requestor
    return requestor.ae_title.strip(), requestor.address


def _remote(event, operation: str) -> tuple[RemoteAE | None, bool]:
    """The registered peer of this association and whether it may do the operation."""
    calling, _ = _peer(event)
    remote = RemoteAE.objects.calling(calling)
    if remote is None:
        return None, settings.DICOM_ACCEPT_UNKNOWN_AES
    return remote, remote.allows(operation)


# --- services ---------------------------------------------------------------------------------


def handle_echo(event):
    return 0x0000


def handle_store(event):
    path = event.dataset_path
    tally = _tally(event.assoc)
    if tally.may_store is None:  # asked once an association, not once an instance
        tally.may_store = _remote(event, "store")[1]
    if not tally.may_store:
        storage.discard(path)
        tally.stores[("", "refused")] += 1
        return NOT_AUTHORIZED
    spooled = getattr(event.request, "_dataset_file", None)
    if isinstance(spooled, SpoolFile) and spooled.error is not None:
        storage.discard(path)
        result = store.not_spooled(spooled.error)
    else:
        result = store.ingest(path, _peer(event)[0])
    status, comment = store.status_of(result)
    outcome = "stored" if status == 0 else "warning" if status >> 12 == 0xB else "failed"
    tally.stores[(result.study_instance_uid, outcome)] += 1
    tally.note_builds(result)
    if status != 0:
        log.info("C-STORE from %s: 0x%04X %s", _peer(event)[0], status, result.reason)
    answer = pydicom.Dataset()
    answer.Status = status
    if comment:
        answer.ErrorComment = comment
    return answer


def handle_find(event):
    calling, address = _peer(event)
    _, allowed = _remote(event, "find")
    if not allowed:
        yield NOT_AUTHORIZED, None
        return
    patient_root = event.request.AffectedSOPClassUID in PATIENT_ROOT
    try:
        request = find.parse(event.identifier, patient_root=patient_root)
    except find.FindError as exc:
        _audit_now(event, "C-FIND", [], f"status=0x{exc.status:04X} {exc.comment}")
        yield _failure(exc.status, exc.comment)
        return
    scope = projects.ae_scope(calling)
    direct = pending.can_send(event)
    implicit_vr = direct and UID(event.context.transfer_syntax).is_implicit_VR
    identifiers = (
        jsonbytes.encode(found, implicit_vr=implicit_vr)
        for found in find.answers(request, settings.DICOM_AE_TITLE, scope)
    )
    if direct:
        matches, cancelled = pending.send(event, identifiers)
    else:
        matches, cancelled = yield from _pending_through_pynetdicom(event, identifiers)
    if cancelled:
        _audit_now(event, "C-FIND", [], f"cancelled matches={matches}")
        yield 0xFE00, None
        return
    _audit_now(event, "C-FIND", [], f"level={request.level} matches={matches}")


def _pending_through_pynetdicom(event, identifiers):
    """Answers in a transfer syntax ``pending`` does not write (deflated, big endian), or
    while pynetdicom has a message of this association still to send: each identifier,
    explicit VR little endian, read back as a data set for pynetdicom to encode and send."""
    matches = 0
    for identifier in identifiers:
        if event.is_cancelled:
            return matches, True
        matches += 1
        yield 0xFF00, decode(BytesIO(identifier), False, True)
    return matches, False


def handle_move(event):
    _, allowed = _remote(event, "move")
    destination = RemoteAE.objects.filter(
        ae_title=event.move_destination.strip(), is_destination=True
    ).first()
    if destination is None:
        _audit_now(event, "C-MOVE", [], f"unknown destination {event.move_destination!r}")
        yield None, None  # pynetdicom answers 0xA801, move destination unknown
        return
    selection, refusal = _select(event, allowed)
    if refusal:
        # (pynetdicom takes a failure only after the destination and one sub-operation.)
        yield destination.host, destination.port, {"contexts": [build_context(Verification)]}
        yield 1
        yield refusal
        return
    counts = _sub_operations(event.assoc, "C-MOVE", selection, destination.ae_title)
    options = {"contexts": contexts_for(_pairs(selection))} if selection.files else {}
    options["evt_handlers"] = [(evt.EVT_DIMSE_RECV, _count_store_answer, [counts])]
    yield destination.host, destination.port, options
    yield from _send_each(event, selection, counts)


def handle_get(event):
    _, allowed = _remote(event, "get")
    selection, refusal = _select(event, allowed)
    if refusal:
        yield 1
        yield refusal
        return
    counts = _sub_operations(event.assoc, "C-GET", selection, "")
    with _get_counts_lock:
        _get_counts[id(event.assoc)] = counts
    yield from _send_each(event, selection, counts)


def _select(event, allowed: bool):
    """The instances asked for, or the failure to answer instead."""
    if not allowed:
        return None, _failure(NOT_AUTHORIZED, "this AE may not retrieve")
    try:
        scope = projects.ae_scope(_peer(event)[0])
        selection = retrieve.select(
            event.identifier, patient_root=_patient_root(event), scope=scope
        )
        return selection, None
    except find.FindError as exc:
        return None, _failure(exc.status, exc.comment)


def _send_each(event, selection, counts):
    yield len(selection.files)
    for one in selection.files:
        if event.is_cancelled:
            yield 0xFE00, None
            return
        try:
            dataset = _read(one)
        except (OSError, pydicom.errors.InvalidDicomError) as exc:
            log.warning("cannot read %s for %s: %s", one.file_path, selection.level, exc)
            counts.results["failed"] += 1
            yield 0xFF00, _unsendable(one)
            continue
        yield 0xFF00, dataset


def _read(one) -> pydicom.Dataset:
    """A file in the folder is sent as it is stored (``StoredInstance``); a bucket's object is
    downloaded and read whole (its local copy goes before the data set is sent)."""
    store = stores.current()
    if store.name == "filesystem":
        return StoredInstance(one, store.local_path(one.file_path))
    with store.local_copy(one.file_path) as path:
        return pydicom.dcmread(path)


class StoredInstance(pydicom.Dataset):
    """What a C-MOVE or C-GET handler yields for a file in the folder: the UIDs pynetdicom
    picks the presentation context by (from the index) and the file's path, which
    ``send_c_store`` below streams from disk as it is. pynetdicom's retrieve services take only
    data sets, which it encodes again from the decoded file: most of a sub-operation's time."""

    def __init__(self, one, path: Path):
        super().__init__()
        if not path.is_file():
            raise FileNotFoundError(f"no file at {path}")
        self.SOPClassUID = one.sop_class_uid
        self.SOPInstanceUID = one.sop_instance_uid
        self.file_meta = pydicom.dataset.FileMetaDataset()
        self.file_meta.TransferSyntaxUID = one.transfer_syntax_uid
        self.stored_path = path


def _sending_stored_files(send_c_store):
    @functools.wraps(send_c_store)
    def send(self, dataset, *args, **kwargs):
        if isinstance(dataset, StoredInstance):
            try:
                self._get_valid_context(
                    dataset.SOPClassUID,
                    dataset.file_meta.TransferSyntaxUID,
                    "scu",
                    allow_conversion=False,
                )
                dataset = dataset.stored_path  # the peer takes it as stored: streamed
            except ValueError:
                dataset = pydicom.dcmread(dataset.stored_path)  # pynetdicom converts it
        return send_c_store(self, dataset, *args, **kwargs)

    send.sends_stored_files = True
    return send


if not getattr(Association.send_c_store, "sends_stored_files", False):
    Association.send_c_store = _sending_stored_files(Association.send_c_store)


# No association ever carries this SOP class: a data set of it fails its C-STORE before
# anything is sent, which pynetdicom counts as a failed sub-operation (and lists the instance
# among the failed ones), as a stored file that cannot be read must be.
UNSENDABLE_CLASS = "1.2.826.0.1.3680043.8.498.0.0"


def _unsendable(one):
    dataset = pydicom.Dataset()
    dataset.SOPClassUID = UNSENDABLE_CLASS
    dataset.SOPInstanceUID = one.sop_instance_uid
    return dataset


# --- counting sub-operations for the access log -----------------------------------------------

_get_counts: dict[int, "SubOperations"] = {}
_get_counts_lock = threading.Lock()


@dataclass
class SubOperations:
    operation: str
    studies: list[str]
    destination: str
    total: int
    results: Counter = field(default_factory=Counter)


def _sub_operations(assoc, operation, selection, destination) -> SubOperations:
    counts = SubOperations(operation, selection.study_uids, destination, len(selection.files))
    _tally(assoc).retrievals.append(counts)
    return counts


def _count_store_answer(event, counts: SubOperations) -> None:
    """EVT_DIMSE_RECV on the association the sub-operations go over: each C-STORE answer."""
    command = getattr(event.message, "command_set", None)
    if command is None or command.get("CommandField") != 0x8001:  # C-STORE-RSP
        return
    status = int(command.get("Status", 0xC000))
    kind = "completed" if status == 0 else "warning" if status >> 12 == 0xB else "failed"
    counts.results[kind] += 1


def handle_dimse_recv(event) -> None:
    with _get_counts_lock:
        counts = _get_counts.get(id(event.assoc))
    if counts is not None:
        _count_store_answer(event, counts)


def _pairs(selection):
    return [(f.sop_class_uid, f.transfer_syntax_uid) for f in selection.files]


def _patient_root(event) -> bool:
    return event.request.AffectedSOPClassUID in PATIENT_ROOT


def _failure(status: int, comment: str):
    answer = pydicom.Dataset()
    answer.ErrorComment = comment[:64]
    return status, answer


# --- association life -------------------------------------------------------------------------


def _audit_now(event, operation, studies, outcome) -> None:
    calling, address = _peer(event)
    audit.record(operation, calling_ae=calling, address=address, studies=studies, outcome=outcome)


def handle_rejected(event) -> None:
    calling, address = _peer(event)
    audit.record("ASSOCIATE", calling_ae=calling, address=address, outcome="rejected")
    connections.close_all()


def handle_ended(event) -> None:
    """The association was released or aborted (on its own thread): log what it did, remove
    what a transfer cut short left in the spool, close this thread's database connection."""
    _discard_partial(event.assoc)
    with _tallies_lock:
        tally = _tallies.pop(id(event.assoc), None)
    with _get_counts_lock:
        _get_counts.pop(id(event.assoc), None)
    try:
        if tally is not None:
            tally.send_builds()
            _write_tally(event, tally)
    finally:
        connections.close_all()


def handle_connection_closed(event) -> None:
    """The connection went without a release or abort: at least leave no partial file, and
    have what it stored built."""
    _discard_partial(event.assoc)
    with _tallies_lock:
        tally = _tallies.get(id(event.assoc))
    if tally is not None:
        tally.send_builds()


def _write_tally(event, tally: Tally) -> None:
    calling, address = _peer(event)
    stores: dict[str, Counter] = {}
    for (study, outcome), count in tally.stores.items():
        stores.setdefault(study, Counter())[outcome] += count
    for study, counter in stores.items():
        outcome = " ".join(f"{k}={v}" for k, v in sorted(counter.items()))
        audit.record("C-STORE", calling_ae=calling, address=address,
                     studies=[study] if study else [], outcome=outcome)  # fmt: skip
    for counts in tally.retrievals:
        done = sum(counts.results.values())
        outcome = (
            f"completed={counts.results['completed']} failed={counts.results['failed']} "
            f"warning={counts.results['warning']} remaining={counts.total - done}"
        )
        if counts.destination:
            outcome += f" destination={counts.destination}"
        audit.record(counts.operation, calling_ae=calling, address=address,
                     studies=counts.studies, outcome=outcome)  # fmt: skip


def _discard_partial(assoc) -> None:
    """A data set being received when the association broke (abort, lost connection) is in a
    temporary file pynetdicom leaves behind; remove it."""
    message = getattr(getattr(assoc, "dimse", None), "message", None)
    partial = getattr(message, "_data_set_file", None)
    if partial is not None:
        try:
            partial.close()
        finally:
            storage.discard(Path(partial.name))


# --- the server -------------------------------------------------------------------------------


def make_ae() -> ListenerAE:
    ae = with_timeouts(ListenerAE(ae_title=settings.DICOM_AE_TITLE))
    ae.maximum_associations = settings.DICOM_MAX_ASSOCIATIONS
    ae.maximum_pdu_size = settings.DICOM_MAX_PDU_SIZE
    ae.add_supported_context(Verification, ALL_TRANSFER_SYNTAXES)
    for context in AllStoragePresentationContexts:
        ae.add_supported_context(
            context.abstract_syntax, ACCEPTED_SYNTAXES, scp_role=True, scu_role=False
        )
    for model in QUERY_RETRIEVE:
        ae.add_supported_context(model, ALL_TRANSFER_SYNTAXES)
    return ae


HANDLERS = [
    (evt.EVT_C_ECHO, handle_echo),
    (evt.EVT_C_STORE, handle_store),
    (evt.EVT_C_FIND, handle_find),
    (evt.EVT_C_MOVE, handle_move),
    (evt.EVT_C_GET, handle_get),
    (evt.EVT_DIMSE_RECV, handle_dimse_recv),
    (evt.EVT_REJECTED, handle_rejected),
    (evt.EVT_RELEASED, handle_ended),
    (evt.EVT_ABORTED, handle_ended),
    (evt.EVT_CONN_CLOSE, handle_connection_closed),
]


def prepare_spool() -> None:
    """Files left in the listener's spool folder by a listener that was killed are removed."""
    for leftover in store.spool_dir().glob("*.dcm"):
        storage.discard(leftover)


class SharedContext(PresentationContext):
    """A supported presentation context that every association reads as it is. pynetdicom
    deep-copies the server's supported contexts for each association; for every storage SOP
    class with every transfer syntax that copy took about 70 ms, most of what an association
    cost (negotiation only reads them)."""

    def __deepcopy__(self, memo):
        return self


def _shared(context: PresentationContext) -> SharedContext:
    shared = copy.copy(context)
    shared.__class__ = SharedContext
    return shared


def start(host: str, port: int, *, block: bool, shared_port: bool = False):
    """Listen; with ``block`` False returns the server (``stop(server)`` stops it). With
    ``shared_port``, one of several processes on the port (``manage.py dicom_listener``
    starts them after clearing the spool, which each of them then leaves alone)."""
    if not shared_port:
        prepare_spool()
    ae = make_ae()
    ae.shared_port = shared_port
    contexts = [_shared(context) for context in ae.supported_contexts]
    return ae.start_server((host, port), block=block, evt_handlers=HANDLERS, contexts=contexts)


def stop(server, wait: float = 5.0) -> None:
    """Stop listening, then give the associations in progress a moment to end."""
    server.shutdown()
    deadline = time.monotonic() + wait
    while server.active_associations and time.monotonic() < deadline:
        time.sleep(0.05)
