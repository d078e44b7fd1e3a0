"""This archive as a DIMSE client (SCU): C-ECHO a remote AE, send it files (C-STORE). Used by
the admin's "C-ECHO now", the send task, and nothing that knows of HTTP or Celery."""

import contextlib
import functools
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.conf import settings
from pynetdicom import AE, _config, build_context, transport
from pynetdicom.sop_class import Verification

from archive import stores

from .models import RemoteAE

# A file sent by path is streamed from disk as it is, never decoded into memory; the peer must
# accept its transfer syntax (each file's own is proposed).
_config.STORE_SEND_CHUNKED_DATASET = True


def _without_delay(init):
    """Every association's socket, ours to a peer and a peer's to the listener, sends each
    write at once (TCP_NODELAY), as DICOM peers built for speed do. With Nagle's algorithm a
    message's last short segment waits for the peer to acknowledge the ones before, and a peer
    that delays its acknowledgements (Linux: up to 40 ms) stalls every C-STORE by that much:
    dcmtk's storescu sends 512x512 CT slices to storescp at ~20 a second with it, ~1,000
    without (bench/README.md, "DICOM network"). pynetdicom sets no socket options of this
    kind, so its socket class is wrapped here, once, for every AE of the process."""

    @functools.wraps(init)
    def wrapped(self, *args, **kwargs):
        init(self, *args, **kwargs)
        if self.socket is not None:
            self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    wrapped.sends_without_delay = True
    return wrapped


def _acknowledging_at_once(recv):
    """Every read acknowledges what came at once (Linux's TCP_QUICKACK, which the kernel clears
    again by itself, so it is set before each read). A peer that keeps Nagle's algorithm, as
    dcmtk's tools and the PACS built on them do unless told otherwise, writes a short message
    (a C-STORE-RSP) in pieces and holds the last piece until the first is acknowledged; Linux
    delays that acknowledgement up to 40 ms, so each C-STORE to such a peer waited that long:
    20 slices a second from C-MOVE to dcmtk's storescp, ~140 with this (bench/README.md,
    "DICOM network")."""

    @functools.wraps(recv)
    def wrapped(self, nr_bytes):
        with contextlib.suppress(OSError, AttributeError):
            self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        return recv(self, nr_bytes)

    wrapped.acknowledges_at_once = True
    return wrapped


if not getattr(transport.AssociationSocket.__init__, "sends_without_delay", False):
    transport.AssociationSocket.__init__ = _without_delay(transport.AssociationSocket.__init__)
if hasattr(socket, "TCP_QUICKACK") and not getattr(
    transport.AssociationSocket.recv, "acknowledges_at_once", False
):
    transport.AssociationSocket.recv = _acknowledging_at_once(transport.AssociationSocket.recv)
# pynetdicom proposes at most 128 presentation contexts in one association.
MAX_CONTEXTS = 128
EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"


def client_ae() -> AE:
    """An AE with this archive's title and the configured timeouts."""
    return with_timeouts(AE(ae_title=settings.DICOM_AE_TITLE))


def with_timeouts(ae: AE) -> AE:
    """The DICOM_*_TIMEOUT settings on an AE, the listener's or a client's."""
    ae.acse_timeout = settings.DICOM_ACSE_TIMEOUT
    ae.dimse_timeout = settings.DICOM_DIMSE_TIMEOUT
    ae.network_timeout = settings.DICOM_NETWORK_TIMEOUT
    ae.connection_timeout = settings.DICOM_CONNECTION_TIMEOUT
    return ae


def echo(remote: RemoteAE) -> str:
    """C-ECHO the peer; returns what happened in words ("success", or why not)."""
    ae = client_ae()
    ae.add_requested_context(Verification)
    assoc = ae.associate(remote.host, remote.port, ae_title=remote.ae_title)
    if not assoc.is_established:
        return _why_not(assoc)
    try:
        status = assoc.send_c_echo()
    finally:
        assoc.release()
    if not status or "Status" not in status:
        return "no answer to C-ECHO (timeout or aborted)"
    return "success" if status.Status == 0 else f"C-ECHO status 0x{status.Status:04X}"


def contexts_for(pairs: Iterable[tuple[str, str]]) -> list:
    """Presentation contexts for these (SOP class, transfer syntax) pairs: one per pair, each
    offering the file's own syntax (and, for uncompressed ones, the other uncompressed one)."""
    contexts = []
    for sop_class, syntax in sorted(set(pairs)):
        syntaxes = [syntax]
        if syntax in (EXPLICIT_LE, IMPLICIT_LE):
            syntaxes = [syntax, IMPLICIT_LE if syntax == EXPLICIT_LE else EXPLICIT_LE]
        contexts.append(build_context(sop_class, syntaxes))
    if len(contexts) > MAX_CONTEXTS:
        raise ValueError(
            f"{len(contexts)} kinds of instance (SOP class and transfer syntax) are more than "
            f"one association can carry ({MAX_CONTEXTS})"
        )
    return contexts


@dataclass(frozen=True)
class Outbound:
    """One file to send, as the index knows it."""

    key: int  # the caller's id for it (an Instance or SendItem pk)
    file_path: str  # where the store keeps it (``Instance.file_path``)
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str


@dataclass(frozen=True)
class Delivery:
    key: int
    status: int | None  # the peer's DIMSE status; None when it never answered
    reason: str = ""

    @property
    def arrived(self) -> bool:
        return self.status is not None and (self.status == 0 or self.status >> 12 == 0xB)


def send(
    remote: RemoteAE,
    files: list[Outbound],
    on_delivery: Callable[[Delivery], None] = lambda delivery: None,
    *,
    move_originator: tuple[str, int] | None = None,
) -> list[Delivery]:
    """C-STORE the files to the peer over one association; one Delivery per file, in order
    (``on_delivery`` sees each as it comes). An association that cannot be made or breaks
    leaves the rest without an answer (status None), to be sent again later."""
    ae = client_ae()
    try:
        contexts = contexts_for((f.sop_class_uid, f.transfer_syntax_uid) for f in files)
    except ValueError as exc:
        return _all_failed(files, str(exc), on_delivery)
    assoc = ae.associate(remote.host, remote.port, contexts=contexts, ae_title=remote.ae_title)
    if not assoc.is_established:
        return _all_failed(files, _why_not(assoc), on_delivery)
    deliveries = []
    try:
        for one in files:
            if not assoc.is_established:
                delivery = Delivery(one.key, None, "the association was closed")
            else:
                delivery = _store(assoc, one, move_originator)
            deliveries.append(delivery)
            on_delivery(delivery)
    finally:
        if assoc.is_established:
            assoc.release()
    return deliveries


def _store(assoc, one: Outbound, move_originator) -> Delivery:
    extra = {}
    if move_originator:
        extra = {"originator_aet": move_originator[0], "originator_id": move_originator[1]}
    try:
        with stores.current().local_copy(one.file_path) as path:
            answer = assoc.send_c_store(path, **extra)
    except (OSError, ValueError) as exc:
        return Delivery(one.key, None, f"cannot send: {exc}"[:300])
    if not answer or "Status" not in answer:
        return Delivery(one.key, None, "no answer (timeout or association aborted)")
    status = int(answer.Status)
    comment = str(answer.get("ErrorComment", "") or "")
    return Delivery(one.key, status, comment if status else "")


def _all_failed(files, reason, on_delivery) -> list[Delivery]:
    deliveries = [Delivery(one.key, None, reason) for one in files]
    for delivery in deliveries:
        on_delivery(delivery)
    return deliveries


def _why_not(assoc) -> str:
    if assoc.is_rejected:
        return "association rejected"
    return "no association (connection refused, timed out or aborted)"
