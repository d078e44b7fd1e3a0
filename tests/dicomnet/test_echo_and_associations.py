"""C-ECHO, who may associate, the association limit and the admin's "C-ECHO now"."""

import threading

from pynetdicom import AE
from pynetdicom.sop_class import Verification

from accounts.models import AccessEvent


def test_echoscu_from_a_registered_ae(listener, remote_ae, dcmtk):
    remote_ae("ECHOSCU")
    result = dcmtk("echoscu", "-aet", "ECHOSCU", "-aec", listener.ae_title, *listener.address)
    assert result.returncode == 0, result.stderr


def test_unknown_calling_ae_is_rejected_and_logged(listener, remote_ae, dcmtk, wait_for):
    remote_ae("KNOWN")
    result = dcmtk("echoscu", "-aet", "STRANGER", "-aec", listener.ae_title, *listener.address)
    assert result.returncode != 0
    assert "Rejected" in result.stderr or "rejected" in result.stderr.lower(), result.stderr
    wait_for(lambda: AccessEvent.objects.filter(method="ASSOCIATE").exists(), 10)
    event = AccessEvent.objects.get(method="ASSOCIATE")
    assert event.username == "AE:STRANGER"
    assert event.ip == "127.0.0.1"
    assert event.action == AccessEvent.Action.LOGIN_FAILED


def test_empty_registry_refuses_everyone_unless_unknown_aes_are_accepted(listener, dcmtk, settings):
    args = ("echoscu", "-aet", "ANYONE", "-aec", listener.ae_title, *listener.address)
    assert dcmtk(*args).returncode != 0
    settings.DICOM_ACCEPT_UNKNOWN_AES = True
    assert dcmtk(*args).returncode == 0


def test_more_associations_than_the_limit_are_rejected_not_queued(listener, remote_ae, settings):
    """The limit is read when the listener starts: start one with a limit of 2."""
    from oidc.provider import free_port

    from dicomnet import listener as dicom_listener

    remote_ae("PARALLEL")
    settings.DICOM_MAX_ASSOCIATIONS = 2
    port = free_port()
    server = dicom_listener.start("127.0.0.1", port, block=False)
    try:
        ae = AE(ae_title="PARALLEL")
        ae.add_requested_context(Verification)
        ae.acse_timeout = 10
        held = [ae.associate("127.0.0.1", port, ae_title="OHIFSITE") for _ in range(2)]
        assert all(a.is_established for a in held)
        third = ae.associate("127.0.0.1", port, ae_title="OHIFSITE")
        assert third.is_rejected
        for a in held:
            a.release()
        again = ae.associate("127.0.0.1", port, ae_title="OHIFSITE")
        assert again.is_established
        assert again.send_c_echo().Status == 0
        again.release()
    finally:
        dicom_listener.stop(server)


def test_many_parallel_associations_within_the_limit(listener, remote_ae):
    remote_ae("PARALLEL")
    statuses = []

    def echo():
        ae = AE(ae_title="PARALLEL")
        ae.add_requested_context(Verification)
        assoc = ae.associate("127.0.0.1", listener.port, ae_title="OHIFSITE")
        statuses.append(assoc.send_c_echo().Status if assoc.is_established else None)
        assoc.release()

    threads = [threading.Thread(target=echo) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [0] * 8


def test_admin_echo_now_shows_the_result(listener, remote_ae, admin_client):
    from dicomnet.models import RemoteAE

    # This archive's own listener stands in for the peer: it knows "OHIFSITE" as a caller.
    ourselves = remote_ae("OHIFSITE", port=listener.port)
    ourselves.ae_title = "OHIFSITE"
    away = remote_ae("NOBODY")  # a free port: nothing listens
    response = admin_client.post(
        "/admin/dicomnet/remoteae/",
        {"action": "echo_now", "_selected_action": [ourselves.pk, away.pk]},
        follow=True,
    )
    text = response.content.decode()
    assert f"C-ECHO {ourselves}: success" in text
    assert f"C-ECHO {away}: no association (connection refused, timed out or aborted)" in text
    assert RemoteAE.objects.get(pk=ourselves.pk).last_echo == "success"


def test_ae_title_and_port_are_validated(admin_client, transactional_db):
    response = admin_client.post(
        "/admin/dicomnet/remoteae/add/",
        {"ae_title": "BACK\\SLASH", "host": "pacs", "port": "70000", "may_store": "on"},
    )
    text = response.content.decode()
    assert response.status_code == 200
    assert "without backslash" in text
    assert "less than or equal to 65535" in text
    response = admin_client.post(
        "/admin/dicomnet/remoteae/add/",
        {"ae_title": "A" * 17, "host": "pacs", "port": "104"},
    )
    assert "at most 16" in response.content.decode()


def test_both_ends_of_an_association_send_without_delay(remote_ae, settings):
    """TCP_NODELAY on the listener's socket and on ours as a client: with Nagle's algorithm a
    peer that delays its acknowledgements stalls each C-STORE by up to 40 ms. And every read
    acknowledges at once (TCP_QUICKACK), for the peers that keep Nagle's algorithm."""
    import socket

    from oidc.provider import free_port
    from pynetdicom import transport

    from dicomnet import listener as dicom_listener
    from dicomnet.peers import client_ae

    remote_ae(settings.DICOM_AE_TITLE)
    port = free_port()
    server = dicom_listener.start("127.0.0.1", port, block=False)
    try:
        ae = client_ae()
        ae.add_requested_context(Verification)
        assoc = ae.associate("127.0.0.1", port, ae_title="OHIFSITE")
        assert assoc.is_established
        ours = assoc.dul.socket.socket
        theirs = server.active_associations[0].dul.socket.socket
        for sock in (ours, theirs):
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert assoc.send_c_echo().Status == 0
        assert transport.AssociationSocket.recv.acknowledges_at_once
        assoc.release()
    finally:
        dicom_listener.stop(server)
