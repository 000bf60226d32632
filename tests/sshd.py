"""A real OpenSSH server for tests: /usr/sbin/sshd on a free loopback port, keys made for the run.

Running as root, the partner is a system user (`edigw-sftp-test`, made with useradd when
missing) chrooted with `ChrootDirectory` and `ForceCommand internal-sftp`, exactly as the
README tells admins to set up their own server; the chroot lives under /srv because every
component of a chroot path must be root-owned and not writable by others (/tmp is not).
As another user the chroot is impossible: the server then lets the current user log in to
plain SFTP and the partner's folders are in a temporary folder (`server.chrooted` says which).

`server.local("inbox")` is the folder on this machine, `server.remote("inbox")` the path the
SFTP client uses for it. Tests skip with the reason when sshd or ssh-keygen is missing.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SSHD = Path(os.environ.get("EDIGW_TEST_SSHD", "/usr/sbin/sshd"))
TEST_USER = "edigw-sftp-test"
CHROOT_BASE = Path("/srv/edigw-sshd-tests")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def keygen(path: Path, kind: str = "ed25519", passphrase: str = "") -> Path:
    """A new key pair at `path` (private) and `path.pub`; returns the private key's path."""
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", passphrase, "-C", "edigw-test", "-f", str(path)],
                   check=True, capture_output=True)
    return path


def key_fingerprint(public_key: Path) -> str:
    """The SHA256 fingerprint `ssh-keygen -lf` prints for a public key file."""
    out = subprocess.run(["ssh-keygen", "-lf", str(public_key)], check=True, capture_output=True, text=True)
    return out.stdout.split()[1]


def _ensure_user() -> pwd.struct_passwd:
    """The partner's system user: no password to log in with ('*'), but not locked ('!'), which
    sshd without PAM would refuse even for a key."""
    try:
        pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/", "--shell",
                        "/usr/sbin/nologin", TEST_USER], check=True, capture_output=True)
    subprocess.run(["usermod", "--password", "*", TEST_USER], check=True, capture_output=True)
    return pwd.getpwnam(TEST_USER)


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (sshd's session children call setsid, so a process group misses them)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        for child in parents.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


@dataclass
class SshServer:
    """One sshd for one test; see the module text."""

    workdir: Path
    port: int = field(default_factory=free_port)
    chrooted: bool = False
    user: str = ""
    process: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host_key = keygen(self.workdir / "ssh_host_ed25519_key")
        self.client_key = keygen(self.workdir / "client_key")
        self.host_fingerprint = key_fingerprint(self.host_key.with_suffix(".pub"))
        self.known_hosts = self.workdir / "known_hosts"
        public = self.host_key.with_suffix(".pub").read_text().split()
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {public[0]} {public[1]}\n")
        if os.geteuid() == 0:
            account = _ensure_user()
            self.chrooted = True
            self.user = TEST_USER
            CHROOT_BASE.mkdir(mode=0o755, exist_ok=True)
            run = uuid.uuid4().hex[:12]
            self.root = CHROOT_BASE / run
            self.root.mkdir(mode=0o755)
            self._owner = (account.pw_uid, account.pw_gid)
            # sshd reads authorized_keys as the partner's user, who cannot enter pytest's 0700 folders.
            keys_dir = CHROOT_BASE / f"{run}.keys"
            keys_dir.mkdir(mode=0o755)
            self.authorized_keys = keys_dir / "authorized_keys"
        else:
            self.user = pwd.getpwuid(os.geteuid()).pw_name
            self.root = self.workdir / "home"
            self.root.mkdir()
            self._owner = None
            self.authorized_keys = self.workdir / "authorized_keys"
        shutil.copyfile(self.client_key.with_suffix(".pub"), self.authorized_keys)
        self.authorized_keys.chmod(0o644)
        for folder in ("inbox", "outbox"):
            self.make_folder(folder)
        self.config = self.workdir / "sshd_config"
        lines = [
            "ListenAddress 127.0.0.1", f"Port {self.port}", f"HostKey {self.host_key}",
            f"PidFile {self.workdir / 'sshd.pid'}", f"AuthorizedKeysFile {self.authorized_keys}",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PubkeyAuthentication yes",
            "UsePAM no", "StrictModes no", "LogLevel VERBOSE", "MaxStartups 100", "MaxSessions 100",
            "Subsystem sftp internal-sftp", f"AllowUsers {self.user}",
        ]
        if self.chrooted:
            lines += [f"Match User {self.user}", f"  ChrootDirectory {self.root}", "  ForceCommand internal-sftp",
                      "  AllowTcpForwarding no", "  X11Forwarding no"]
        self.config.write_text("\n".join(lines) + "\n")

    def make_folder(self, name: str) -> Path:
        path = self.local(name)
        path.mkdir(parents=True, exist_ok=True)
        if self._owner is not None:
            os.chown(path, *self._owner)
        return path

    def local(self, name: str) -> Path:
        """The folder or file on this machine behind a path relative to the partner's home."""
        return self.root / name

    def remote(self, name: str) -> str:
        """The path our SFTP client uses for it."""
        return f"/{name}" if self.chrooted else str(self.root / name)

    def start(self) -> SshServer:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True) if os.geteuid() == 0 else None
        self.log = open(self.workdir / "sshd.log", "ab")
        self.process = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(self.config)], stdout=self.log,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited {self.process.returncode}: {self.log_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    if sock.recv(64).startswith(b"SSH-"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sshd did not listen on port {self.port}: {self.log_text()}")

    def kill(self) -> None:
        """SIGKILL the server and every session it forked: the connection drops mid-transfer."""
        if self.process is None:
            return
        for pid in [self.process.pid, *_descendants(self.process.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        self.kill()
        if self.chrooted and self.root.is_relative_to(CHROOT_BASE):
            shutil.rmtree(self.root, ignore_errors=True)
            shutil.rmtree(self.authorized_keys.parent, ignore_errors=True)

    def log_text(self) -> str:
        path = self.workdir / "sshd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def drop(self, name: str, data: bytes, folder: str = "inbox", age: float = 10.0) -> Path:
        """A partner's complete file in one of its folders, written a while ago."""
        path = self.local(folder) / name
        path.write_bytes(data)
        past = time.time() - age
        os.utime(path, (past, past))
        return path

    def channel_settings(self, **overrides) -> dict:
        """A profile's sftp channel mapping for this server (our client key, its pinned host key)."""
        settings = {"type": "sftp", "host": "127.0.0.1", "port": self.port, "user": self.user,
                    "known_hosts": str(self.known_hosts), "key_file": str(self.client_key),
                    "inbox": self.remote("inbox"), "outbox": self.remote("outbox"),
                    "settle_seconds": 0.3, "timeout": 5, "schedule": 1}
        settings.update(overrides)
        return {key: value for key, value in settings.items() if value is not None}


def missing_sshd_reason() -> str | None:
    if not SSHD.exists():
        return f"{SSHD} is missing (Debian package openssh-server; .ci/run installs it)"
    if shutil.which("ssh-keygen") is None:
        return "ssh-keygen is missing (Debian package openssh-client)"
    return None


@pytest.fixture
def sshd(tmp_path):
    """A started sshd for one test, stopped (and its chroot removed) afterwards."""
    reason = missing_sshd_reason()
    if reason:
        pytest.skip(reason)
    server = SshServer(tmp_path / "sshd")
    try:
        server.start()
    except RuntimeError as error:
        server.stop()
        pytest.skip(f"sshd cannot run here: {error}")
    yield server
    server.stop()


@pytest.fixture
def stalled_server():
    """A TCP listener that accepts connections and never says a word (a hung or wrong server)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield listener.getsockname()[1]
    listener.close()
