"""The SFTP channel against OpenSSH's own sshd: fetching, settling, sending, and every way it fails."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import ROOT
from gateway_fixtures import BIG_FILE, WELL_BELOW, heap_peak
from gateway.channels.base import ChannelError
from gateway.channels.secrets import SecretRef
from gateway.channels.sftp import HostKeyRefused, SftpChannel
from gateway.profiles import ProfileError, SftpChannelSettings, load_profile
from sshd import SshServer, keygen, sshd, stalled_server  # noqa: F401 (fixtures)

SAMPLE = (ROOT / "samples/inbox/acme-retail/ORDERS_4500012.edi").read_bytes()


def settings_for(server: SshServer, **overrides) -> SftpChannelSettings:
    settings = SftpChannelSettings(
        name="acme-retail/sftp", host="127.0.0.1", port=server.port, user=server.user,
        inbox=server.remote("inbox"), outbox=server.remote("outbox"), processed=None, failed=None,
        after="delete", patterns=("*",), known_hosts=server.known_hosts, key_file=server.client_key,
        settle_seconds=0.2, timeout=5)
    return replace(settings, **overrides)


def channel_for(server: SshServer, tmp_path: Path, **overrides) -> SftpChannel:
    return SftpChannel(settings_for(server, **overrides), tmp_path / "spool")


def take_all(channel: SftpChannel) -> dict[str, bytes]:
    """What a poll hands out, read and settled as the daemon does."""
    taken = {}
    with channel.session():
        for claimed in channel.scan():
            taken[claimed.original_name] = claimed.path.read_bytes()
            channel.done(claimed)
    return taken


def test_settled_files_are_fetched_whole_then_deleted_on_the_server(sshd, tmp_path):
    sshd.drop("ORDERS_1.edi", SAMPLE)
    sshd.drop("ORDERS_2.edi", SAMPLE + b"\n")
    channel = channel_for(sshd, tmp_path)

    assert take_all(channel) == {"ORDERS_1.edi": SAMPLE, "ORDERS_2.edi": SAMPLE + b"\n"}
    assert list(sshd.local("inbox").iterdir()) == []
    assert [p for p in (tmp_path / "spool").iterdir()] == []
    assert take_all(channel) == {}


def test_after_move_puts_the_fetched_file_in_the_remote_processed_folder(sshd, tmp_path):
    sshd.drop("ORDERS_1.edi", SAMPLE)
    channel = channel_for(sshd, tmp_path, after="move", processed=sshd.remote("inbox/processed"))

    assert take_all(channel) == {"ORDERS_1.edi": SAMPLE}
    assert (sshd.local("inbox/processed/ORDERS_1.edi")).read_bytes() == SAMPLE
    assert [p.name for p in sshd.local("inbox").iterdir()] == ["processed"]


def test_only_matching_names_are_fetched_and_files_in_transit_are_left(sshd, tmp_path):
    sshd.drop("ORDERS_1.edi", SAMPLE)
    sshd.drop("notes.txt", b"hello")
    sshd.drop("ORDERS_2.edi.part", SAMPLE[:10])
    channel = channel_for(sshd, tmp_path, patterns=("*.edi",))

    assert list(take_all(channel)) == ["ORDERS_1.edi"]
    assert sorted(p.name for p in sshd.local("inbox").iterdir()) == ["ORDERS_2.edi.part", "notes.txt"]


def test_a_file_still_growing_between_listings_is_left_for_the_next_poll(sshd, tmp_path):
    growing = sshd.drop("ORDERS_big.edi", b"UNA:+.? '")
    stop = threading.Event()

    def partner_still_uploading() -> None:
        with open(growing, "ab") as writer:
            while not stop.is_set():
                writer.write(b"x" * 100)
                writer.flush()
                time.sleep(0.02)

    writer = threading.Thread(target=partner_still_uploading)
    writer.start()
    channel = channel_for(sshd, tmp_path, settle_seconds=0.3)
    try:
        assert take_all(channel) == {}
        assert growing.exists()
    finally:
        stop.set()
        writer.join()
    whole = growing.read_bytes()
    assert take_all(channel) == {"ORDERS_big.edi": whole}
    assert not growing.exists()


def test_a_changed_host_key_is_refused_naming_both_fingerprints_and_nothing_is_fetched(sshd, tmp_path):
    sshd.drop("ORDERS_1.edi", SAMPLE)
    impostor = keygen(tmp_path / "impostor")
    impostor_line = impostor.with_suffix(".pub").read_text().split()
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{sshd.port} {impostor_line[0]} {impostor_line[1]}\n")
    channel = channel_for(sshd, tmp_path, known_hosts=known_hosts)

    with pytest.raises(HostKeyRefused) as refused:
        take_all(channel)
    from sshd import key_fingerprint

    assert "host key mismatch" in str(refused.value)
    assert sshd.host_fingerprint in str(refused.value)
    assert key_fingerprint(impostor.with_suffix(".pub")) in str(refused.value)
    assert (sshd.local("inbox") / "ORDERS_1.edi").exists()
    assert not (tmp_path / "spool").exists() or list((tmp_path / "spool").iterdir()) == []


def test_a_wrong_pinned_fingerprint_is_refused_naming_both(sshd, tmp_path):
    pinned = "SHA256:" + "A" * 43
    channel = channel_for(sshd, tmp_path, known_hosts=None, host_key=pinned)

    with pytest.raises(HostKeyRefused) as refused:
        take_all(channel)
    assert pinned in str(refused.value) and sshd.host_fingerprint in str(refused.value)


def test_the_right_pinned_fingerprint_is_enough_without_known_hosts(sshd, tmp_path):
    sshd.drop("ORDERS_1.edi", SAMPLE)
    channel = channel_for(sshd, tmp_path, known_hosts=None, host_key=sshd.host_fingerprint)

    assert take_all(channel) == {"ORDERS_1.edi": SAMPLE}


def test_an_unknown_host_is_never_added_to_known_hosts(sshd, tmp_path):
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    channel = channel_for(sshd, tmp_path, known_hosts=known_hosts)

    with pytest.raises(HostKeyRefused, match="unknown host key") as refused:
        take_all(channel)
    assert sshd.host_fingerprint in str(refused.value)
    assert known_hosts.read_text() == ""


def test_a_key_the_server_does_not_know_is_reported_as_authentication_refused(sshd, tmp_path):
    sshd.drop("ORDERS_1.edi", SAMPLE)
    channel = channel_for(sshd, tmp_path, key_file=keygen(tmp_path / "stranger"))

    with pytest.raises(ChannelError, match="authentication refused"):
        take_all(channel)
    report = channel.test_connection()
    assert not report.logged_in and "authentication refused" in report.problems[0]
    assert (sshd.local("inbox") / "ORDERS_1.edi").exists()


def test_an_encrypted_key_opens_with_its_passphrase_from_a_secret_file_which_no_error_repeats(sshd, tmp_path):
    key = keygen(tmp_path / "locked", passphrase="correct horse")
    sshd.authorized_keys.write_text(key.with_suffix(".pub").read_text())
    secret = tmp_path / "passphrase"
    secret.write_text("correct horse\n")
    sshd.drop("ORDERS_1.edi", SAMPLE)

    assert take_all(channel_for(sshd, tmp_path, key_file=key, key_passphrase=SecretRef(file=secret))) == {
        "ORDERS_1.edi": SAMPLE}
    secret.write_text("wrong staple\n")
    report = channel_for(sshd, tmp_path, key_file=key, key_passphrase=SecretRef(file=secret)).test_connection()
    assert report.problems and "wrong staple" not in report.problems[0]
    missing = channel_for(sshd, tmp_path, key_file=key, key_passphrase=SecretRef(env="EDIGW_TEST_NO_SUCH_VARIABLE"))
    assert "environment variable EDIGW_TEST_NO_SUCH_VARIABLE is not set" in missing.test_connection().problems[0]


def test_a_missing_remote_inbox_is_a_clear_error(sshd, tmp_path):
    channel = channel_for(sshd, tmp_path, inbox=sshd.remote("no-such-folder"))

    with pytest.raises(ChannelError, match="list the inbox .*no-such-folder: no such file or folder on the server"):
        take_all(channel)
    report = channel.test_connection()
    assert report.logged_in and not report.ok
    assert report.folders["inbox"].exists is False and report.folders["outbox"].exists is True
    assert any("no-such-folder" in problem for problem in report.problems)


def test_a_folder_we_may_not_read_is_reported_as_permission_denied(sshd, tmp_path):
    if not sshd.chrooted:
        pytest.skip("permissions cannot be taken from the user the server runs as")
    locked = sshd.local("locked")
    locked.mkdir(mode=0o700)  # root's, inside the chroot
    channel = channel_for(sshd, tmp_path, inbox=sshd.remote("locked"))

    assert any("permission denied" in problem for problem in channel.test_connection().problems)


def test_test_connection_counts_what_waits_in_the_inbox_and_outbox(sshd, tmp_path):
    sshd.drop("ORDERS_1.edi", SAMPLE)
    sshd.drop("ORDERS_2.edi", SAMPLE)
    sshd.drop("DESADV_1.edi", SAMPLE, folder="outbox")
    report = channel_for(sshd, tmp_path).test_connection()

    assert report.ok and report.host_key == sshd.host_fingerprint
    assert (report.folders["inbox"].waiting, report.folders["outbox"].waiting) == (2, 1)


def test_a_server_killed_mid_download_leaves_nothing_in_the_spool_and_the_next_poll_gets_it_whole(sshd, tmp_path):
    big = os.urandom(1024 * 1024) * 96  # 96 MiB
    sshd.drop("ORDERS_huge.edi", big)
    channel = channel_for(sshd, tmp_path)
    spool = tmp_path / "spool"

    def kill_once_the_download_has_begun() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            partial = [p for p in spool.glob(".*.download") if p.stat().st_size > 0] if spool.exists() else []
            if partial:
                sshd.kill()
                return
            time.sleep(0.002)

    killer = threading.Thread(target=kill_once_the_download_has_begun)
    killer.start()
    with pytest.raises(ChannelError, match="closed the connection|timed out"):
        take_all(channel)
    killer.join()
    assert sshd.process is None, "the download ended before the server could be killed"
    assert list(spool.iterdir()) == []

    sshd.start()
    taken = take_all(channel)
    assert hashlib.sha256(taken["ORDERS_huge.edi"]).digest() == hashlib.sha256(big).digest()


def test_a_file_that_grows_while_it_is_downloaded_is_left_and_the_next_poll_gets_it_whole(sshd, tmp_path):
    first = os.urandom(1024 * 1024) * 48  # 48 MiB: the download is under way long before its last requests
    growing = sshd.drop("ORDERS_growing.edi", first)
    spool = tmp_path / "spool"
    appended = threading.Event()

    def partner_appends_once_the_download_has_begun() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if spool.exists() and any(spool.glob(".*.download")):
                with open(growing, "ab") as writer:
                    writer.write(b"UNZ+1+1'")
                appended.set()
                return
            time.sleep(0.001)

    partner = threading.Thread(target=partner_appends_once_the_download_has_begun)
    partner.start()
    channel = channel_for(sshd, tmp_path)
    assert take_all(channel) == {}
    partner.join()
    assert appended.is_set(), "the download ended before the partner could append"
    assert growing.exists() and list(spool.iterdir()) == []

    taken = take_all(channel)
    assert hashlib.sha256(taken["ORDERS_growing.edi"]).digest() == hashlib.sha256(first + b"UNZ+1+1'").digest()
    assert not growing.exists()


def test_a_server_that_accepts_and_never_speaks_times_out_with_a_clear_error(stalled_server, tmp_path):
    settings = SftpChannelSettings(
        name="acme-retail/sftp", host="127.0.0.1", port=stalled_server, user="nobody", inbox="/inbox",
        outbox=None, processed=None, failed=None, after="delete", patterns=("*",),
        host_key="SHA256:" + "A" * 43, key_file=keygen(tmp_path / "our_key"), timeout=1)
    channel = SftpChannel(settings, tmp_path / "spool")
    started = time.monotonic()

    with pytest.raises(ChannelError, match="accepted the connection but never spoke"):
        with channel.polling():
            pass
    assert time.monotonic() - started < 5
    assert channel.backing_off() and channel.failures == 1


def test_connections_to_one_server_are_limited(sshd, tmp_path):
    first = channel_for(sshd, tmp_path, max_connections=1, timeout=1, port=sshd.port)
    second = channel_for(sshd, tmp_path / "other", max_connections=1, timeout=1, port=sshd.port)
    # The limit is per server (host:port); a new port gives this test its own slot.
    with first.session():
        with pytest.raises(ChannelError, match="already has 1 connection"):
            with second.session():
                pass
    with second.session():
        pass


def test_sent_files_appear_complete_under_their_final_name(sshd, tmp_path):
    data = os.urandom(8 * 1024 * 1024)
    outbox = sshd.local("outbox")
    seen_partial = []
    stop = threading.Event()

    def partner_watching_the_outbox() -> None:
        while not stop.is_set():
            final = outbox / "INVOIC_1.edi"
            try:
                if final.stat().st_size != len(data):
                    seen_partial.append(final.stat().st_size)
            except FileNotFoundError:
                pass

    watcher = threading.Thread(target=partner_watching_the_outbox)
    watcher.start()
    try:
        where = channel_for(sshd, tmp_path).send("INVOIC_1.edi", data)
    finally:
        stop.set()
        watcher.join()
    assert str(where) == sshd.remote("outbox/INVOIC_1.edi")
    assert (outbox / "INVOIC_1.edi").read_bytes() == data
    assert seen_partial == []
    assert [p.name for p in outbox.iterdir()] == ["INVOIC_1.edi"]


@pytest.mark.parametrize("upload", ["rename", "direct"])
def test_a_big_file_is_uploaded_from_a_file_a_block_at_a_time(sshd, tmp_path, upload):
    """An outbound file handed over as a file opened for reading (the archived bytes), not as bytes."""
    source = tmp_path / "archived"
    source.write_bytes(os.urandom(BIG_FILE))
    channel = channel_for(sshd, tmp_path, upload=upload)

    with source.open("rb") as stream, heap_peak() as peak:
        where = channel.send("CONTRL_1.edi", stream)

    assert str(where) == sshd.remote("outbox/CONTRL_1.edi")
    assert (sshd.local("outbox") / "CONTRL_1.edi").read_bytes() == source.read_bytes()
    assert [p.name for p in sshd.local("outbox").iterdir()] == ["CONTRL_1.edi"]
    assert peak[0] < BIG_FILE * WELL_BELOW, f"peak {peak[0]} bytes for a file of {BIG_FILE}"


def test_an_upload_prefix_and_direct_writes_are_honoured_and_nothing_is_overwritten(sshd, tmp_path):
    prefixed = channel_for(sshd, tmp_path, temp_prefix="tmp_")
    prefixed.send("A.edi", b"one")
    direct = channel_for(sshd, tmp_path, upload="direct")
    direct.send("B.edi", b"two")

    assert {p.name: p.read_bytes() for p in sshd.local("outbox").iterdir()} == {"A.edi": b"one", "B.edi": b"two"}
    with pytest.raises(ChannelError, match="not overwritten"):
        prefixed.send("A.edi", b"again")
    with pytest.raises(ChannelError):
        direct.send("B.edi", b"again")
    assert (sshd.local("outbox") / "A.edi").read_bytes() == b"one"
    assert (sshd.local("outbox") / "B.edi").read_bytes() == b"two"


def write_profile(tmp_path: Path, channel: str) -> Path:
    path = tmp_path / "acme.yaml"
    path.write_text("name: ACME\nodoo_partner: {ref: ACME}\nchannels:\n" + channel, encoding="utf-8")
    return path


def test_an_sftp_profile_loads_with_paths_from_its_folder_and_secrets_by_reference(tmp_path):
    path = write_profile(tmp_path, "\n".join([
        "  their-server:",
        "    type: sftp",
        "    host: sftp.acme.example",
        "    user: distributor",
        "    key_file: keys/acme",
        "    key_passphrase_env: ACME_KEY_PASSPHRASE",
        "    known_hosts: known_hosts",
        "    inbox: /out",
        "    outbox: /in",
        "    after: move",
        "    schedule: '*/5 8-18 * * mon-fri'",
        "    patterns: ['*.edi']",
    ]) + "\n")
    channel = load_profile(path, tmp_path / "state").channels[0]

    assert isinstance(channel, SftpChannelSettings)
    assert channel.name == "acme/their-server" and channel.port == 22
    assert channel.key_file == tmp_path / "keys/acme" and channel.known_hosts == tmp_path / "known_hosts"
    assert channel.key_passphrase == SecretRef(env="ACME_KEY_PASSPHRASE")
    assert channel.processed == "/out/processed" and channel.cron == "*/5 8-18 * * mon-fri"


def test_sftp_profile_mistakes_are_named_with_their_lines_and_secrets_are_never_echoed(tmp_path):
    path = write_profile(tmp_path, "\n".join([
        "  their-server:",
        "    type: sftp",
        "    host: sftp.acme.example",
        "    user: distributor",
        "    password: hunter2-secret",
        "    host_key: not-a-fingerprint",
        "    schedule: every now and then",
        "    inbox: /out",
    ]) + "\n")
    with pytest.raises(ProfileError) as raised:
        load_profile(path, tmp_path)
    problems = [str(problem) for problem in raised.value.problems]

    assert any(p.startswith(f"{path}:8:") and "'password' must not be written" in p for p in problems)
    assert any(p.startswith(f"{path}:9:") and "SHA256 fingerprint" in p for p in problems)
    assert any(p.startswith(f"{path}:10:") and "not a cron expression" in p for p in problems)
    assert any("say how to log in" in p for p in problems)
    assert not any("hunter2" in p for p in problems)


def test_many_files_are_fetched_on_several_sessions_of_one_connection_each_whole_and_once(sshd, tmp_path):
    files = {f"ORDERS_{n:03d}.edi": SAMPLE.replace(b"4500012", f"46{n:05d}".encode()) + os.urandom(n * 40)
             for n in range(150)}  # more than one batch of 64
    for name, data in files.items():
        sshd.drop(name, data)
    channel = channel_for(sshd, tmp_path, max_connections=3, timeout=1)
    others = [channel_for(sshd, tmp_path / f"other{n}", max_connections=3, timeout=1) for n in range(2)]
    seen: list[str] = []
    # Two of the server's three connections are held elsewhere: the scan's three sessions share its one.
    with others[0].session(), others[1].session(), channel.session():
        for claimed in channel.scan():
            seen.append(claimed.original_name)
            assert claimed.path.read_bytes() == files[claimed.original_name]
            channel.done(claimed)
    assert sorted(seen) == sorted(files) and len(seen) == len(set(seen))
    assert list(sshd.local("inbox").iterdir()) == []
    assert [p for p in (tmp_path / "spool").iterdir()] == []


def test_a_file_handed_out_is_settled_with_its_batch_and_a_crash_before_leaves_it_for_recover(sshd, tmp_path):
    sshd.drop("ORDERS_1.edi", SAMPLE)
    sshd.drop("ORDERS_2.edi", SAMPLE + b"\n")
    channel = channel_for(sshd, tmp_path, max_connections=2)
    with channel.session():
        scan = channel.scan()
        first = next(scan)
        channel.done(first)
        assert (sshd.local("inbox") / first.original_name).exists()  # settled at the batch's end, not yet
        # the process dies here: the generator never resumes
    restarted = channel_for(sshd, tmp_path, max_connections=2)
    recovered = list(restarted.recover())
    assert sorted(c.original_name for c in recovered) == ["ORDERS_1.edi", "ORDERS_2.edi"]
    for claimed in recovered:
        restarted.done(claimed)  # recorded before the crash (the pipeline finds it), now settled
    assert list(sshd.local("inbox").iterdir()) == []
    assert take_all(restarted) == {}


def test_a_spool_file_the_machine_stopped_before_syncing_is_fetched_again_whole(sshd, tmp_path):
    sshd.drop("ORDERS_1.edi", SAMPLE)
    channel = channel_for(sshd, tmp_path)
    with channel.session():
        claimed = next(channel.scan())
    # What a power cut before the batch's sync can leave: the name, not all the bytes.
    claimed.path.write_bytes(SAMPLE[:10])

    restarted = channel_for(sshd, tmp_path)
    assert list(restarted.recover()) == []  # not whole: never handed out
    assert (sshd.local("inbox") / "ORDERS_1.edi").exists()
    assert take_all(restarted) == {"ORDERS_1.edi": SAMPLE}
