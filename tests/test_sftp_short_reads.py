"""The SFTP channel against a server that answers reads short (allowed by the SFTP protocol, and
done by some servers: a read returns at most what the server likes, not what was asked for).

OpenSSH always answers a read of a regular file whole, so this server is paramiko's own SFTP
server, on a real socket, serving a folder with every read cut to SHORT bytes.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from pathlib import Path

import paramiko
import pytest

from gateway.channels.sftp import SftpChannel, fingerprint
from gateway.profiles import SftpChannelSettings
from sshd import keygen

SHORT = 5000  # bytes a read is answered with at most: not a divisor of the channel's requests


class _LetIn(paramiko.ServerInterface):
    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        return paramiko.AUTH_SUCCESSFUL

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


class _ShortHandle(paramiko.SFTPHandle):
    def read(self, offset: int, length: int) -> bytes | int:
        return super().read(offset, min(length, SHORT))


class _Folder(paramiko.SFTPServerInterface):
    """The folder `root` as the server's whole file system, reads answered short."""

    def __init__(self, server: paramiko.ServerInterface, root: Path) -> None:
        super().__init__(server)
        self.root = root

    def _local(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def list_folder(self, path: str) -> list[paramiko.SFTPAttributes] | int:
        folder = self._local(path)
        return [paramiko.SFTPAttributes.from_stat(os.lstat(folder / name), name) for name in os.listdir(folder)]

    def stat(self, path: str) -> paramiko.SFTPAttributes | int:
        try:
            return paramiko.SFTPAttributes.from_stat(os.stat(self._local(path)))
        except FileNotFoundError:
            return paramiko.SFTP_NO_SUCH_FILE

    lstat = stat

    def open(self, path: str, flags: int, attr: paramiko.SFTPAttributes) -> paramiko.SFTPHandle | int:
        handle = _ShortHandle(flags)
        handle.readfile = open(self._local(path), "rb")
        handle.filename = str(self._local(path))
        return handle

    def remove(self, path: str) -> int:
        os.remove(self._local(path))
        return paramiko.SFTP_OK


@pytest.fixture
def short_reading_server(tmp_path):
    """(port, host key fingerprint, served folder) of a server taking one connection at a time."""
    root = tmp_path / "served"
    (root / "inbox").mkdir(parents=True)
    host_key = paramiko.Ed25519Key.from_private_key_file(str(keygen(tmp_path / "host_key")))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    transports: list[paramiko.Transport] = []

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return  # closed: the test is over
            transport = paramiko.Transport(connection)
            transport.add_server_key(host_key)
            transport.set_subsystem_handler("sftp", paramiko.SFTPServer, _Folder, root)
            transport.start_server(server=_LetIn())
            transports.append(transport)

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    yield listener.getsockname()[1], fingerprint(host_key), root
    listener.shutdown(socket.SHUT_RDWR)  # ends the accept() under way (close alone would not)
    listener.close()
    server.join(timeout=5)
    for transport in transports:
        transport.close()


def test_reads_answered_short_are_completed_and_the_file_is_spooled_whole(short_reading_server, tmp_path):
    port, host_key, root = short_reading_server
    data = os.urandom(3 * 1024 * 1024 + 12345)  # several windows of requests, the last one short
    (root / "inbox" / "ORDERS_short.edi").write_bytes(data)
    settings = SftpChannelSettings(
        name="acme-retail/sftp", host="127.0.0.1", port=port, user="acme", inbox="/inbox", outbox=None,
        processed=None, failed=None, after="delete", patterns=("*",), known_hosts=None, host_key=host_key,
        key_file=keygen(tmp_path / "our_key"), settle_seconds=0, timeout=10)
    channel = SftpChannel(settings, tmp_path / "spool")

    taken = {}
    with channel.session():
        for claimed in channel.scan():
            taken[claimed.original_name] = claimed.path.read_bytes()
            channel.done(claimed)

    assert list(taken) == ["ORDERS_short.edi"]
    assert hashlib.sha256(taken["ORDERS_short.edi"]).digest() == hashlib.sha256(data).digest()
    assert not (root / "inbox" / "ORDERS_short.edi").exists()
