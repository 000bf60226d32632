"""The SFTP channel: a partner's SFTP server that we log in to with paramiko, poll, and write to.

One poll is one connection: settle what an earlier poll left unsettled, list the remote inbox
twice (a file whose size or mtime changes between the listings is left for the next poll),
download the settled files into a local spool under temporary names, a batch at a time, on up
to `max_connections` SFTP sessions of that connection at once (each file's reads pipelined, one
byte past its listed end asked for in the same requests: a file grown since is left for the
next poll), make the batch durable with one file-system sync, and only then hand its files out. The remote file is deleted (or moved to the remote
processed/ folder) in `done()`, after the pipeline has archived and recorded it; a crash in
between leaves the spool file, which `recover()` hands out again so the pipeline can see that
it is already recorded.

Host keys are pinned (a known_hosts file or a SHA256 fingerprint) and never added; secrets
are read from their reference when connecting and appear in no message.
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import hashlib
import itertools
import json
import os
import queue
import posixpath
import random
import socket
import stat
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import paramiko
from loguru import logger
from paramiko.sftp import CMD_DATA, CMD_READ, CMD_STATUS, int64

from gateway.channels.base import (
    REASON_SUFFIX,
    Channel,
    ChannelError,
    ClaimedFile,
    UnsafeFileName,
    blocks,
    is_inbound_name,
    safe_file_name,
)
from gateway.channels.secrets import SecretUnavailable
from gateway.profiles import SftpChannelSettings
from gateway.files import candidate_names, fsync_folder, remove_quietly

CHUNK = 256 * 1024
READ_REQUEST = 32 * 1024  # bytes asked for by one read request: what every SFTP server answers whole
WINDOW = 4 * 1024 * 1024  # bytes of one download requested at once: the memory a download holds
BACKOFF_FIRST_SECONDS = 5.0
BACKOFF_MAX_SECONDS = 900.0
FETCH_BATCH = 64  # files downloaded before one sync makes them durable and they are handed out
_DOWNLOAD_SUFFIX = ".download"
_META_SUFFIX = ".remote"

_server_slots: dict[str, threading.BoundedSemaphore] = {}
_server_slots_lock = threading.Lock()


def fingerprint(key: paramiko.PKey) -> str:
    """A host key's fingerprint as OpenSSH prints it (`ssh-keygen -lf`): SHA256:<base64, no padding>."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


class HostKeyRefused(ChannelError):
    """The server's host key is not the pinned one (or is unknown); nothing was sent to it."""


class _PinnedHostKey(paramiko.MissingHostKeyPolicy):
    """Accepts only the fingerprint the profile pins; never adds a key anywhere."""

    def __init__(self, channel: str, server: str, pinned: str | None, known_hosts: Path | None) -> None:
        self.channel, self.server, self.pinned, self.known_hosts = channel, server, pinned, known_hosts

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        offered = fingerprint(key)
        if self.pinned is not None and offered == self.pinned.rstrip("="):
            return
        if self.pinned is not None:
            raise HostKeyRefused(
                f"channel {self.channel}: host key mismatch at {self.server}: the server offers {key.get_name()} "
                f"{offered}, the profile pins {self.pinned}; nothing was sent. If the partner really changed its "
                "key, confirm the new fingerprint with them out of band and update host_key")
        raise HostKeyRefused(
            f"channel {self.channel}: unknown host key at {self.server}: the server offers {key.get_name()} "
            f"{offered}, and {self.known_hosts} has no key for it; nothing was sent. Confirm the fingerprint "
            "with the partner, then add the key to known_hosts or set host_key")


@dataclass(frozen=True)
class _Remote:
    """What the listing said of a remote file we spooled: enough to settle exactly that file later."""

    path: str
    size: int
    mtime: int
    unsettled: bool = False  # recorded, but the remote file could not yet be deleted or moved
    sha256: str | None = None  # of the spooled bytes: a spool file a crash cut short is told from a whole one


@dataclass
class FolderReport:
    path: str
    exists: bool = False
    files: int = 0
    """Entries of any kind in the folder."""
    waiting: int = 0
    """Files our patterns would fetch (inbox) or the partner has not picked up yet (outbox)."""


@dataclass
class ConnectionReport:
    """What `test_connection` found: whether we got in, what the folders hold, problems in words."""

    channel: str
    server: str
    user: str
    connected: bool = False
    logged_in: bool = False
    host_key: str | None = None
    folders: dict[str, FolderReport] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.logged_in and not self.problems

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


@dataclass
class _Connection:
    client: paramiko.SSHClient
    sftp: paramiko.SFTPClient
    slot: threading.BoundedSemaphore

    def close(self) -> None:
        """Close, quietly when the server is gone already: the error that killed it has been raised."""
        try:
            self.sftp.close()
        except (OSError, EOFError, paramiko.SSHException) as error:
            logger.debug("closing a broken SFTP session: {error!r}", error=error)
        finally:
            self.client.close()
            self.slot.release()


def _server_slot(server: str, limit: int) -> threading.BoundedSemaphore:
    """The per-server connection limit, shared by every channel of this process that logs in there."""
    with _server_slots_lock:
        slot = _server_slots.get(server)
        if slot is None:
            slot = _server_slots[server] = threading.BoundedSemaphore(limit)
        return slot


class SftpChannel(Channel):
    """A partner's SFTP server, polled for inbound files and written to for outbound ones."""

    def __init__(self, settings: SftpChannelSettings, spool_dir: Path, max_size: int | None = None) -> None:
        self.settings = settings
        self.name = settings.name
        self.spool_dir = Path(spool_dir)
        self.max_size = max_size
        self.settle_seconds = settings.settle_seconds
        self.patterns = settings.patterns
        self._connection: _Connection | None = None
        self._seen: dict[str, tuple[int, int]] = {}
        self._remotes: dict[str, _Remote] = {}
        self._refused_names: set[str] = set()
        self._deferred: list[tuple[ClaimedFile, str | None]] | None = None  # done() during a scan's batch
        self.failures = 0
        self.retry_at = 0.0
        self.last_error: str | None = None
        self._log = logger.bind(channel=self.name)

    def __repr__(self) -> str:
        return f"SftpChannel(name={self.name!r}, server={self.settings.server!r}, inbox={self.settings.inbox!r})"

    # connections

    @contextmanager
    def session(self) -> Iterator[paramiko.SFTPClient]:
        """One logged-in SFTP session; nested uses share it, the outermost closes it."""
        if self._connection is not None:
            yield self._connection.sftp
            return
        connection = self._connect()
        self._connection = connection
        try:
            yield connection.sftp
        finally:
            self._connection = None
            connection.close()

    def _connect(self) -> _Connection:
        settings = self.settings
        slot = _server_slot(settings.server, settings.max_connections)
        if not slot.acquire(timeout=settings.timeout):
            raise ChannelError(f"channel {self.name}: {settings.server} already has {settings.max_connections} "
                               f"connection(s) open from this gateway (max_connections); waited {settings.timeout:g} s")
        client = paramiko.SSHClient()
        try:
            if settings.known_hosts is not None:
                client.load_host_keys(str(settings.known_hosts))
            client.set_missing_host_key_policy(
                _PinnedHostKey(self.name, settings.server, settings.host_key, settings.known_hosts))
            pkey = None
            if settings.key_file is not None:
                passphrase = settings.key_passphrase.reveal() if settings.key_passphrase is not None else None
                pkey = self._private_key(passphrase)
            password = settings.password.reveal() if settings.password is not None and pkey is None else None
            client.connect(settings.host, settings.port, username=settings.user, pkey=pkey, password=password,
                           timeout=settings.timeout, banner_timeout=settings.timeout,
                           auth_timeout=settings.timeout, channel_timeout=settings.timeout,
                           allow_agent=False, look_for_keys=False)
            transport = client.get_transport()
            if transport is not None:
                _no_delay(transport.sock)
            if transport is not None and settings.keepalive_seconds:
                transport.set_keepalive(max(1, int(settings.keepalive_seconds)))
            sftp = client.open_sftp()
            sftp.get_channel().settimeout(settings.timeout)
        except BaseException as error:
            client.close()
            slot.release()
            if isinstance(error, (KeyboardInterrupt, SystemExit)):
                raise
            raise self._explain(error, "connect") from None
        self._log.debug("logged in to {server} as {user}", server=settings.server, user=settings.user)
        return _Connection(client, sftp, slot)

    def _private_key(self, passphrase: str | None) -> paramiko.PKey:
        path = self.settings.key_file
        try:
            return paramiko.PKey.from_path(path, passphrase.encode("utf-8") if passphrase is not None else None)
        except paramiko.PasswordRequiredException:
            raise
        except FileNotFoundError:
            raise ChannelError(f"channel {self.name}: key file {path} does not exist") from None
        except PermissionError:
            raise ChannelError(f"channel {self.name}: key file {path} cannot be read by this user") from None
        except (paramiko.SSHException, ValueError) as error:
            hint = "the passphrase is wrong, or " if passphrase is not None else ""
            raise ChannelError(f"channel {self.name}: key file {path} cannot be opened: {hint}it is not an "
                               f"OpenSSH or PEM private key ({type(error).__name__})") from None

    def _explain(self, error: BaseException, doing: str, path: str | None = None) -> ChannelError:
        """A paramiko or socket error as a ChannelError a person can act on (never with a secret in it)."""
        settings = self.settings
        where = f"channel {self.name} ({settings.user}@{settings.server})"
        on = f" {path}" if path else ""
        if isinstance(error, ChannelError):
            return error
        if isinstance(error, paramiko.BadHostKeyException):
            return HostKeyRefused(
                f"{where}: host key mismatch: the server offers {error.key.get_name()} {fingerprint(error.key)}, "
                f"{settings.known_hosts} pins {fingerprint(error.expected_key)}; nothing was sent. If the partner "
                "really changed its key, confirm the new fingerprint with them out of band and update known_hosts")
        if isinstance(error, SecretUnavailable):
            return ChannelError(f"{where}: cannot read a secret: {error}")
        if isinstance(error, paramiko.PasswordRequiredException):
            return ChannelError(f"{where}: key file {settings.key_file} is encrypted; set key_passphrase_file "
                                "or key_passphrase_env")
        if isinstance(error, paramiko.AuthenticationException):
            how = f"key file {settings.key_file}" if settings.key_file else f"the password from {settings.password}"
            return ChannelError(f"{where}: authentication refused: the server did not accept user {settings.user} "
                                f"with {how}; check that the partner installed our public key (or the password)")
        if isinstance(error, paramiko.ssh_exception.NoValidConnectionsError):
            return ChannelError(f"{where}: connection refused: nothing listens on port {settings.port}, "
                                "or a firewall rejects us")
        if isinstance(error, (socket.timeout, TimeoutError)):
            return ChannelError(f"{where}: timed out after {settings.timeout:g} s while trying to {doing}{on}; "
                                "the server accepted the connection but stopped answering")
        # paramiko says "No existing session" when its handshake wait ends before the banner time-out does.
        if isinstance(error, paramiko.SSHException) and (
                "banner" in str(error).lower() or str(error) == "No existing session"):
            return ChannelError(f"{where}: timed out after {settings.timeout:g} s waiting for the SSH greeting: "
                                "the server accepted the connection but never spoke (stalled, or not an SSH server)")
        if isinstance(error, socket.gaierror):
            return ChannelError(f"{where}: host name {settings.host} cannot be resolved: {error.strerror}")
        if isinstance(error, FileNotFoundError):
            return ChannelError(f"{where}: cannot {doing}{on}: no such file or folder on the server")
        if isinstance(error, PermissionError):
            return ChannelError(f"{where}: cannot {doing}{on}: permission denied on the server")
        # paramiko says "Socket is closed" (an OSError without errno) when we send on a channel
        # the server has closed: a download sends its read requests as it goes.
        if isinstance(error, (EOFError, ConnectionError)) or (
                isinstance(error, (paramiko.SSHException, OSError)) and getattr(error, "errno", None) is None
                and any(word in str(error).lower() for word in ("closed", "dropped", "eof"))):
            return ChannelError(f"{where}: the server closed the connection while we tried to {doing}{on}")
        if isinstance(error, paramiko.SSHException):
            return ChannelError(f"{where}: SSH failure while trying to {doing}{on}: {error}")
        if isinstance(error, OSError):
            return ChannelError(f"{where}: cannot {doing}{on}: {error.strerror or error}")
        return ChannelError(f"{where}: cannot {doing}{on}: {type(error).__name__}: {error}")

    @contextmanager
    def _remote(self, doing: str, path: str | None = None) -> Iterator[None]:
        try:
            yield
        except (paramiko.SSHException, EOFError, OSError, SecretUnavailable) as error:
            raise self._explain(error, doing, path) from None

    def _failed(self, error: ChannelError) -> None:
        """Remember a failed poll and wait before the next one: doubling, with jitter, up to a cap."""
        self.failures += 1
        delay = min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** (self.failures - 1))
        delay = random.uniform(delay / 2, delay)
        self.retry_at = time.monotonic() + delay
        self.last_error = str(error)
        self._log.error("{error}; failure {count}, next try in {delay:.0f} s", error=error, count=self.failures,
                        delay=delay)

    def backing_off(self) -> bool:
        """Whether the last poll failed recently enough that the next one should wait."""
        return time.monotonic() < self.retry_at

    @contextmanager
    def polling(self) -> Iterator[paramiko.SFTPClient]:
        """One poll's session: a ChannelError from it starts (or lengthens) the back-off; success ends it."""
        try:
            with self.session() as sftp:
                yield sftp
        except ChannelError as error:
            self._failed(error)
            raise
        self._succeeded()

    def _succeeded(self) -> None:
        if self.failures:
            self._log.info("{server} answers again after {count} failure(s)", server=self.settings.server,
                           count=self.failures)
        self.failures, self.retry_at, self.last_error = 0, 0.0, None

    # inbound

    def recover(self) -> Iterator[ClaimedFile]:
        """Spool files from before a restart, oldest first: downloaded, maybe recorded, not settled."""
        if not self.spool_dir.is_dir():
            return
        found = []
        for entry in os.scandir(self.spool_dir):
            if entry.name.startswith(".") and entry.name.endswith(_DOWNLOAD_SUFFIX):
                remove_quietly(Path(entry.path))  # a download cut short: the remote file is still there
                continue
            if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                continue
            found.append((entry.stat(follow_symlinks=False).st_mtime, entry.name))
        for _, name in sorted(found):
            remote = self._read_meta(name)
            if remote is not None and not remote.unsettled and remote.sha256 and not _holds(
                    self.spool_dir / name, remote.size, remote.sha256):
                # Spooled, but the machine stopped before the batch's sync: never handed out, the remote
                # file is still there and is fetched again.
                self._log.info("{file!r} in the spool is not whole (the machine stopped before it was synced); "
                               "fetched again at the next poll", file=name)
                remove_quietly(self.spool_dir / name)
                remove_quietly(self._meta_path(name))
                continue
            if remote is not None:
                self._remotes[name] = remote
            claimed = self._claimed(name)
            self._log.info("recovered {file!r} ({size} bytes) from the spool, fetched before a restart",
                           file=name, size=claimed.size)
            yield claimed

    def scan(self) -> Iterator[ClaimedFile]:
        """Settled remote files, each downloaded whole into the spool (and synced) before it is handed out."""
        with self.session() as sftp:
            self._settle_leftovers(sftp)
            settled = self._settled(sftp)
            if not settled:
                return
            with self._sessions(sftp, len(settled)) as sessions:
                for start in range(0, len(settled), FETCH_BATCH):
                    claims = self._fetch_batch(sessions, settled[start:start + FETCH_BATCH])
                    self._deferred = []  # done() of this batch's files settles them below, all at once
                    try:
                        yield from claims
                    finally:
                        deferred, self._deferred = self._deferred, None
                        self._settle_many(sessions, deferred)

    def _settle_many(self, sessions: list[paramiko.SFTPClient], deferred: list[tuple[ClaimedFile, str | None]]) -> None:
        """Settle the remote files of a batch's recorded files, on every session at once."""
        if deferred:
            _, errors = _on_sessions(sessions, deferred, lambda session, item: self._settle(*item, sftp=session))
            if errors:
                raise errors[0]

    @contextmanager
    def _sessions(self, sftp: paramiko.SFTPClient, files: int) -> Iterator[list[paramiko.SFTPClient]]:
        """The poll's SFTP session and, for several files, more sessions on the same connection: up to
        `max_connections` transfers at once, and never another login. A server that refuses more
        sessions gets the downloads on the ones it gave."""
        sessions = [sftp]
        transport = self._connection.client.get_transport() if self._connection is not None else None
        try:
            while transport is not None and len(sessions) < min(self.settings.max_connections, files):
                try:
                    extra = paramiko.SFTPClient.from_transport(transport)
                except (paramiko.SSHException, OSError, EOFError) as error:
                    self._log.debug("{server} gave no further SFTP session ({error}); downloading on {count}",
                                    server=self.settings.server, error=error, count=len(sessions))
                    break
                if extra is None:
                    break
                extra.get_channel().settimeout(self.settings.timeout)
                sessions.append(extra)
            yield sessions
        finally:
            for extra in sessions[1:]:
                try:
                    extra.close()
                except (OSError, EOFError, paramiko.SSHException):
                    pass

    def _fetch_batch(self, sessions: list[paramiko.SFTPClient],
                     batch: list[tuple[str, int, int]]) -> list[ClaimedFile]:
        """Download a batch on every session at once, in listing order; sync the spool once; the claims.

        A failure (the server gone) removes what this batch spooled, none of it handed out: the
        remote files are all still there for the next poll."""
        fetched, errors = _on_sessions(sessions, batch, lambda session, item: self._download(session, *item))
        claims = [claimed for claimed in fetched if claimed is not None]
        if errors:
            for claimed in claims:
                remove_quietly(claimed.path)
                remove_quietly(self._meta_path(claimed.original_name))
                self._remotes.pop(claimed.original_name, None)
            raise errors[0]
        if claims:
            _sync_folder_files(self.spool_dir, [claimed.path for claimed in claims])
        for claimed in claims:
            self._log.info("fetched {file!r} ({size} bytes) from {server}", file=claimed.original_name,
                           size=claimed.size, server=self.settings.server)
            if self.max_size is not None and claimed.size > self.max_size:
                self._log.warning("{file!r} is {size} bytes, over the limit of {limit}", file=claimed.original_name,
                                  size=claimed.size, limit=self.max_size)
        return claims

    def waiting(self) -> bool:
        """Always False: a file still changing is fetched by the next scheduled poll, not by waiting."""
        return False

    def open(self, claimed: ClaimedFile) -> BinaryIO:
        try:
            descriptor = os.open(claimed.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
        except OSError as error:
            raise ChannelError(f"channel {self.name}: cannot read spool file {claimed.path}: {error.strerror}") from error
        return os.fdopen(descriptor, "rb")

    def done(self, claimed: ClaimedFile) -> PurePosixPath | None:
        """Recorded: delete the remote file (or move it to the remote processed/), then the spool file.

        Files of a scan under way are settled together when their batch ends (None is returned);
        others at once (where the remote file went is returned).

        When the server cannot be reached now, the spool file stays, marked unsettled, and the
        next poll settles it before it lists the inbox; the file is not fetched a second time.
        """
        folder = self.settings.processed if self.settings.after == "move" else None
        if self._deferred is not None and claimed.original_name in self._remotes:
            # Handed out by the scan under way: settled with the rest of its batch (a crash before
            # then leaves the spool file, which recover() hands out again, recorded once).
            self._deferred.append((claimed, folder))
            return None
        return self._settle(claimed, folder)

    def fail(self, claimed: ClaimedFile, reason: str) -> Path:
        """Unreadable: keep the bytes in the spool's failed/ with a reason, and settle the remote file."""
        failed_dir = self.spool_dir / "failed"
        failed_dir.mkdir(parents=True, exist_ok=True)
        destination = failed_dir / claimed.original_name
        if destination.exists():
            destination = failed_dir / f"{claimed.original_name}.{uuid.uuid4().hex[:8]}"
        os.replace(claimed.path, destination)
        when = datetime.now(timezone.utc).isoformat(timespec="seconds")
        destination.with_name(destination.name + REASON_SUFFIX).write_text(
            f"reason: {reason}\nfile: {claimed.original_name}\nchannel: {self.name}\nsize: {claimed.size} bytes\n"
            f"failed at: {when}\n", encoding="utf-8")
        self._log.warning("failed {file!r}, kept in {destination}: {reason}", file=claimed.original_name,
                          destination=str(destination), reason=reason)
        self._settle(claimed, self.settings.failed or (
            self.settings.processed if self.settings.after == "move" else None), spool_gone=True)
        return destination

    def _settled(self, sftp: paramiko.SFTPClient) -> list[tuple[str, int, int]]:
        """Names (with size and mtime) unchanged between two listings, or since the last poll, oldest first."""
        first = self._listing(sftp)
        stable = {name for name, seen in first.items() if self._seen.get(name) == seen}
        unsure = set(first) - stable
        latest = first
        if unsure and self.settle_seconds > 0:
            time.sleep(self.settle_seconds)
            latest = self._listing(sftp)
            for name in sorted(unsure):
                if latest.get(name) == first[name]:
                    stable.add(name)
                else:
                    self._log.info("{file!r} is still changing ({size} bytes); left for the next poll", file=name,
                                   size=latest.get(name, first[name])[0])
        elif unsure:
            stable |= unsure
        self._seen = latest
        return sorted(((name, *first[name]) for name in stable), key=lambda item: (item[2], item[0]))

    def _listing(self, sftp: paramiko.SFTPClient) -> dict[str, tuple[int, int]]:
        """Inbound candidates in the remote inbox: regular files matching the patterns, not in hand."""
        inbox = self.settings.inbox
        with self._remote("list the inbox", inbox):
            entries = sftp.listdir_attr(inbox)
        found = {}
        for entry in entries:
            name = entry.filename
            if not is_inbound_name(name, self.patterns) or entry.st_mode is None or not stat.S_ISREG(entry.st_mode):
                continue
            try:
                safe_file_name(name)
            except UnsafeFileName as error:
                if name not in self._refused_names:
                    self._refused_names.add(name)
                    self._log.warning("{error}; left on the server", error=error)
                continue
            if os.path.lexists(self.spool_dir / name):
                continue  # fetched, waiting to be settled
            found[name] = (int(entry.st_size or 0), int(entry.st_mtime or 0))
        return found

    def _download(self, sftp: paramiko.SFTPClient, name: str, size: int, mtime: int) -> ClaimedFile | None:
        """Stream one remote file into the spool (not yet synced); None when it changed size while we read it."""
        remote = posixpath.join(self.settings.inbox, name)
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        temporary = self.spool_dir / f".{name}.{uuid.uuid4().hex[:8]}{_DOWNLOAD_SUFFIX}"
        received = 0
        digest = hashlib.sha256()
        try:
            with self._remote("download", remote):
                with sftp.open(remote, "rb") as reader, open(temporary, "xb") as writer:
                    for chunk in _PipelinedRead(reader, size):
                        received += len(chunk)
                        digest.update(chunk)
                        writer.write(chunk)
            if received != size:
                self._seen.pop(name, None)
                self._log.info("{file!r} changed while it was fetched ({listed} bytes listed, {got} read); "
                               "left for the next poll", file=name, listed=size, got=received)
                remove_quietly(temporary)
                return None
            os.utime(temporary, (mtime, mtime))
            remote_state = _Remote(remote, size, mtime, sha256=digest.hexdigest())
            self._write_meta(name, remote_state, sync=False)  # the batch's sync makes it durable
            os.rename(temporary, self.spool_dir / name)
        except BaseException:
            remove_quietly(temporary)
            raise
        self._remotes[name] = remote_state
        return self._claimed(name)

    def _claimed(self, name: str) -> ClaimedFile:
        path = self.spool_dir / name
        status = os.lstat(path)
        return ClaimedFile(path=path, original_name=name, size=status.st_size, channel=self.name,
                           mtime=status.st_mtime)

    def _settle(self, claimed: ClaimedFile, folder: str | None, spool_gone: bool = False,
                sftp: paramiko.SFTPClient | None = None) -> PurePosixPath | None:
        name = claimed.original_name
        remote = self._remotes.get(name) or self._read_meta(name)
        destination = None
        if remote is not None:
            try:
                if sftp is not None:
                    destination = self._settle_remote(sftp, remote, folder)
                else:
                    with self.session() as session:
                        destination = self._settle_remote(session, remote, folder)
            except ChannelError as error:
                if not spool_gone:
                    self._write_meta(name, _Remote(remote.path, remote.size, remote.mtime, unsettled=True))
                    self._log.warning("{file!r} is recorded, but the remote file was not removed: {error}; "
                                      "retried at the next poll", file=name, error=error)
                    return None
                self._log.warning("{file!r}: the remote file was not removed: {error}", file=name, error=error)
        if not spool_gone:
            remove_quietly(claimed.path)
        remove_quietly(self._meta_path(name))
        self._remotes.pop(name, None)
        return destination

    def _settle_remote(self, sftp: paramiko.SFTPClient, remote: _Remote, folder: str | None) -> PurePosixPath | None:
        """Delete or move the remote file we fetched, unless another file has taken its name since."""
        name = posixpath.basename(remote.path)
        try:
            with self._remote("look at", remote.path):
                now = sftp.lstat(remote.path)
        except ChannelError as error:
            if "no such file" in str(error):
                self._log.info("{file!r} is no longer on the server", file=name)
                return None
            raise
        if (now.st_size, now.st_mtime) != (remote.size, remote.mtime):
            self._log.warning("{file!r} on the server is not the file we fetched ({size} bytes now, {was} then); "
                              "left there, it will be fetched as a new file", file=name, size=now.st_size,
                              was=remote.size)
            return None
        if folder is None:
            with self._remote("delete", remote.path):
                sftp.remove(remote.path)
            self._log.info("deleted {file!r} on the server after intake", file=name)
            return None
        with self._remote("create the folder", folder):
            try:
                sftp.stat(folder)
            except FileNotFoundError:
                sftp.mkdir(folder)
        for candidate in candidate_names(name):
            target = posixpath.join(folder, candidate)
            with self._remote("move", remote.path):
                try:
                    sftp.lstat(target)
                    continue
                except FileNotFoundError:
                    pass
                sftp.rename(remote.path, target)
            self._log.info("moved {file!r} to {target} on the server", file=name, target=target)
            return PurePosixPath(target)
        raise AssertionError("unreachable: _candidate_names never ends")

    def _settle_leftovers(self, sftp: paramiko.SFTPClient) -> None:
        """Remote files recorded by an earlier poll whose delete or move failed: settle them now."""
        if not self.spool_dir.is_dir():
            return
        for entry in os.scandir(self.spool_dir):
            if entry.name.startswith("."):
                continue
            remote = self._read_meta(entry.name)
            if remote is None or not remote.unsettled:
                continue
            folder = self.settings.processed if self.settings.after == "move" else None
            self._settle_remote(sftp, remote, folder)
            remove_quietly(Path(entry.path))
            remove_quietly(self._meta_path(entry.name))

    def _meta_path(self, name: str) -> Path:
        return self.spool_dir / f".{name}{_META_SUFFIX}"

    def _write_meta(self, name: str, remote: _Remote, sync: bool = True) -> None:
        path = self._meta_path(name)
        temporary = path.with_name(path.name + ".tmp")
        with open(temporary, "w", encoding="utf-8") as writer:
            json.dump(asdict(remote), writer)
            writer.flush()
            if sync:
                os.fsync(writer.fileno())
        os.replace(temporary, path)

    def _read_meta(self, name: str) -> _Remote | None:
        try:
            return _Remote(**json.loads(self._meta_path(name).read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as error:
            self._log.warning("spool record of {file!r} is unreadable ({error}); the remote file is left as it is",
                              file=name, error=error)
            return None

    # outbound

    def send(self, name: str, data: bytes | BinaryIO) -> PurePosixPath:
        """Upload `data` (bytes, or a binary file read a block at a time) to the remote outbox as
        `name`, so that the partner never reads half a file.

        With `upload: rename` (the default) it is written under a temporary name (`temp_prefix` +
        name, or name + `.part`), its size checked, then renamed; with `upload: direct` it is
        written under its final name (for servers that forbid rename). An existing file of that
        name is never overwritten: ChannelError.
        """
        safe_file_name(name)
        outbox = self.settings.outbox
        if outbox is None:
            raise ChannelError(f"channel {self.name}: has no outbox to send {name} to")
        final = posixpath.join(outbox, name)
        direct = self.settings.upload == "direct"
        temporary = final if direct else posixpath.join(
            outbox, f"{self.settings.temp_prefix}{name}" if self.settings.temp_prefix else f"{name}.part")
        with self.session() as sftp:
            with self._remote("check the outbox for", final):
                try:
                    sftp.lstat(final)
                    raise ChannelError(f"channel {self.name}: {final} exists on the server and has not been "
                                       "picked up; not overwritten")
                except FileNotFoundError:
                    pass
            try:
                with self._remote("upload", temporary):
                    size = 0
                    with sftp.open(temporary, "wx" if direct else "w") as writer:
                        writer.set_pipelined(True)
                        for block in blocks(data, CHUNK):
                            writer.write(block)
                            size += len(block)
                    written = sftp.stat(temporary).st_size
                if written != size:
                    raise ChannelError(f"channel {self.name}: {temporary} has {written} bytes on the server, "
                                       f"not {size}")
                if not direct:
                    with self._remote("rename the uploaded file to", final):
                        sftp.rename(temporary, final)
            except ChannelError:
                if not direct:
                    self._remove_remote_quietly(sftp, temporary)
                raise
        self._log.info("sent {file!r} ({size} bytes) to {server}:{outbox}", file=name, size=size,
                       server=self.settings.server, outbox=outbox)
        return PurePosixPath(final)

    def _remove_remote_quietly(self, sftp: paramiko.SFTPClient, path: str) -> None:
        try:
            sftp.remove(path)
        except (OSError, paramiko.SSHException, EOFError) as error:
            self._log.debug("could not remove {path}: {error}", path=path, error=error)

    # diagnosis

    def test_connection(self) -> ConnectionReport:
        """Log in, look at the inbox, outbox and processed folders; every problem in words."""
        settings = self.settings
        report = ConnectionReport(channel=self.name, server=settings.server, user=settings.user)
        try:
            with self.session() as sftp:
                report.connected = report.logged_in = True
                transport = self._connection.client.get_transport() if self._connection else None
                if transport is not None:
                    report.host_key = fingerprint(transport.get_remote_server_key())
                folders = {"inbox": settings.inbox, "outbox": settings.outbox}
                if settings.after == "move":
                    folders["processed"] = settings.processed
                for role, path in folders.items():
                    if path is not None:
                        report.folders[role] = self._look_at(sftp, role, path, report.problems)
        except ChannelError as error:
            report.connected = isinstance(error, HostKeyRefused) or "authentication refused" in str(error)
            report.problems.append(str(error))
        return report

    def _look_at(self, sftp: paramiko.SFTPClient, role: str, path: str, problems: list[str]) -> FolderReport:
        folder = FolderReport(path)
        try:
            with self._remote(f"list the {role}", path):
                entries = sftp.listdir_attr(path)
        except ChannelError as error:
            if role == "processed" and "no such file" in str(error):
                return folder  # made on the first move
            problems.append(str(error))
            return folder
        folder.exists = True
        folder.files = len(entries)
        regular = [entry for entry in entries if entry.st_mode is not None and stat.S_ISREG(entry.st_mode)]
        if role == "inbox":
            folder.waiting = sum(1 for entry in regular if is_inbound_name(entry.filename, self.patterns))
        else:
            folder.waiting = len(regular)
        return folder


class _PipelinedRead:
    """A remote file's bytes in order, read with WINDOW bytes of requests always in flight, and one
    byte past the listed end asked for with the rest (its own request, so no read waits on it alone):
    a file grown since the listing shows as a byte too many, one shrunk as bytes missing.

    paramiko's own pipelining (`prefetch`, `readv`) sends the requests from a thread of its own, and
    a reader that keeps up with that thread can find every request sent so far answered: paramiko
    then takes the prefetch for finished, reads the rest one request per round trip, and keeps the
    answers still arriving in memory until the file is closed (paramiko/paramiko#2519, not released).
    Here the reading thread sends the requests itself, one more each time an answer is taken, with
    the request primitives paramiko's SFTPFile uses, so the window slides and never drains.
    """

    def __init__(self, reader: paramiko.SFTPFile, size: int) -> None:
        self._reader, self._sftp, self._size = reader, reader.sftp, size
        self._answers: dict[int, tuple[int, paramiko.Message]] = {}

    def _async_response(self, kind: int, message: paramiko.Message, number: int) -> None:
        """paramiko's call for an answer of ours read while it waited for another one."""
        self._answers[number] = (kind, message)

    def __iter__(self) -> Iterator[bytes]:
        size = self._size
        asks = itertools.chain(((offset, min(READ_REQUEST, size - offset)) for offset in range(0, size, READ_REQUEST)),
                               [(size, 1)])
        in_flight: deque[tuple[int, int, int]] = deque()

        def ask() -> None:
            while len(in_flight) * READ_REQUEST < WINDOW and (request := next(asks, None)) is not None:
                offset, length = request
                number = self._sftp._async_request(self, CMD_READ, self._reader.handle, int64(offset), length)
                in_flight.append((number, offset, length))

        ask()
        while in_flight:
            number, offset, length = in_flight.popleft()
            while number not in self._answers:
                self._sftp._read_response()
            kind, message = self._answers.pop(number)
            ask()
            if kind == CMD_STATUS:
                try:
                    self._sftp._convert_status(message)  # an error raises IOError
                except EOFError:
                    continue  # nothing at this offset: the end of the file
            if kind != CMD_DATA:
                raise paramiko.SFTPError(f"the server answered a read with message type {kind}, not data")
            data = message.get_string()
            yield data
            if 0 < len(data) < length and offset < size:
                # A server may answer short before the end: the rest comes before the next request's bytes.
                self._reader.seek(offset + len(data))
                yield self._reader.read(length - len(data))


def _no_delay(sock: object) -> None:
    """Send our SFTP requests at once (TCP_NODELAY), as OpenSSH's own client does.

    A pipelined download sends its read requests as small packets while answers are still
    arriving; with Nagle's algorithm a request sent while an earlier one is unacknowledged
    waits for the server's delayed ACK, about 40 ms on Linux: half the throughput of a 50 MB
    file on loopback, or less.
    """
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _on_sessions(sessions: list[paramiko.SFTPClient], items: list, work) -> tuple[list, list[BaseException]]:
    """`work(session, item)` for every item, each session in a thread of its own taking the next item:
    (the results in the items' order, the errors raised; after an error no new item is started)."""
    results: list = [None] * len(items)
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for index in range(len(items)):
        todo.put(index)
    errors: list[BaseException] = []

    def worker(session: paramiko.SFTPClient) -> None:
        while not errors:
            try:
                index = todo.get_nowait()
            except queue.Empty:
                return
            try:
                results[index] = work(session, items[index])
            except BaseException as error:  # handed to the caller's thread
                errors.append(error)

    threads = [threading.Thread(target=worker, args=(session,), name="sftp transfer", daemon=True)
               for session in sessions[1:]]
    for thread in threads:
        thread.start()
    worker(sessions[0])
    for thread in threads:
        thread.join()
    return results, errors


def _holds(path: Path, size: int, sha256: str) -> bool:
    """Whether a spool file has exactly the bytes it was recorded with."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as reader:
            while chunk := reader.read(CHUNK):
                digest.update(chunk)
    except OSError:
        return False
    return os.path.getsize(path) == size and digest.hexdigest() == sha256


_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True) if ctypes.util.find_library("c") else None


def _sync_folder_files(folder: Path, files: list[Path]) -> None:
    """Make a batch of files written in `folder` durable (their bytes, their spool records, their names).

    On Linux one syncfs(2) of the folder's file system does it for the whole batch; elsewhere
    each file is fsync'd. The folder itself is fsync'd last either way.
    """
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        syncfs = getattr(_libc, "syncfs", None)
        if syncfs is None or syncfs(descriptor) != 0:
            for path in files:
                for each in (path, path.with_name(f".{path.name}{_META_SUFFIX}")):
                    with open(each, "rb") as handle:
                        os.fsync(handle.fileno())
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
