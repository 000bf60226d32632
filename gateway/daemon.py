"""The daemon: wires channels, the scheduler and the worker; signals; sd_notify.

One worker thread does all the work, so a message is never handled twice in one process.
Watchdog events and the scheduler's rescans only wake it. SFTP channels are the exception
that keeps a slow partner from holding up the rest: each is polled on its own schedule in a
scheduler thread (one connection per poll, with time-outs), and only its intake takes turns
with the worker. Documents from Odoo (`send:` in profiles, `gateway.outbound_jobs`) are looked for
per partner on the profile's schedule, in a scheduler thread that takes turns with the worker.
SIGTERM and SIGINT let it finish the message in hand, record it, and exit 0.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from loguru import logger

from gateway.app import App
from gateway.channels.base import ChannelError, ClaimedFile
from gateway.channels.folder import FolderChannel
from gateway.channels.sftp import SftpChannel
from gateway.late import check_late
from gateway.outbound_jobs import OutboundJobs, Report, jobs_for
from gateway.profiles import Profile, SftpChannelSettings


LATE_CHECK_SECONDS = 600  # how often suppliers' late documents are looked for
RETRY_CHECK_SECONDS = 30  # how often the worker looks for deliveries whose retry time has come


@dataclass
class Inbox:
    profile: Profile
    channel: FolderChannel | SftpChannel
    rescan_seconds: float
    recovered: bool = False


class SourceUnreadable(Exception):
    """The partner's file could not be read (the archive was not touched)."""


class _SourceStream:
    """A read-only stream that tells a failure to read the source from a failure to archive."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def read(self, size: int = -1) -> bytes:
        try:
            return self.stream.read(size)
        except OSError as error:
            raise SourceUnreadable(str(error)) from error


def build_inboxes(app: App) -> list[Inbox]:
    inboxes = []
    for profile in app.profiles.values():
        for settings in profile.channels:
            if isinstance(settings, SftpChannelSettings):
                spool = app.settings.state_dir / "spool" / profile.id / settings.name.split("/", 1)[1]
                sftp = SftpChannel(settings, spool, max_size=app.settings.max_file_size)
                inboxes.append(Inbox(profile, sftp, settings.schedule_seconds or 0.0))
                continue
            channel = FolderChannel(
                name=settings.name, inbox=settings.inbox, processed_dir=settings.processed,
                failed_dir=settings.failed, after=settings.after, settle_seconds=settings.settle_seconds,
                patterns=settings.patterns, max_size=app.settings.max_file_size)
            settings.inbox.mkdir(parents=True, exist_ok=True)
            inboxes.append(Inbox(profile, channel, settings.rescan_seconds or app.settings.rescan_seconds))
    return inboxes


def take(app: App, inbox: Inbox, claimed: ClaimedFile, recovered: bool,
         guard: contextlib.AbstractContextManager | None = None) -> None:
    """Archive and record one claimed file (under `guard`, when given), then let the channel settle it."""
    try:
        with inbox.channel.open(claimed) as stream, guard or contextlib.nullcontext():
            app.pipeline.intake(inbox.profile, claimed, _SourceStream(stream), recovered=recovered)
    except (SourceUnreadable, OSError) as error:
        if isinstance(error, SourceUnreadable) or not _archive_error(error, app):
            logger.warning("{}: {} cannot be read: {}", inbox.channel.name, claimed.original_name, error)
            inbox.channel.fail(claimed, f"the file could not be read: {error}")
            return
        # The archive or store failed: the file stays claimed and is taken again after a restart.
        logger.error("{}: {} could not be archived, left in place: {}", inbox.channel.name, claimed.original_name, error)
        raise
    inbox.channel.done(claimed)


def _archive_error(error: OSError, app: App) -> bool:
    filename = getattr(error, "filename", None)
    return bool(filename) and str(filename).startswith(str(app.settings.archive_dir))


def poll(app: App, inbox: Inbox, guard: contextlib.AbstractContextManager | None = None) -> int:
    """Take every settled file of one inbox; returns how many were taken.

    An SFTP channel is polled over one connection (none while it backs off after failures);
    its ChannelError is logged by the channel and raised to the caller. On PostgreSQL a channel
    another node is polling is left for this turn (an advisory lock per channel).
    """
    remote = isinstance(inbox.channel, SftpChannel)
    if remote and inbox.channel.backing_off():
        return 0
    # Several nodes on one PostgreSQL store: one at a time takes a channel's files, from the claim
    # to the file moved aside, so no node mistakes another's claimed files for its own leftovers.
    with app.store.exclusive(f"channel {inbox.channel.name}") as ours:
        if not ours:
            (logger.info if remote else logger.debug)(
                "{}: another node is polling this channel; not polled this turn", inbox.channel.name)
            return 0
        if remote:
            with inbox.channel.polling():
                return _take_all(app, inbox, guard)
        return _take_all(app, inbox, guard)


def _take_all(app: App, inbox: Inbox, guard: contextlib.AbstractContextManager | None) -> int:
    taken = 0
    if not inbox.recovered:
        for claimed in inbox.channel.recover():
            take(app, inbox, claimed, recovered=True, guard=guard)
            taken += 1
        inbox.recovered = True
    for claimed in inbox.channel.scan():
        if app.pipeline.stopping:
            break
        take(app, inbox, claimed, recovered=False, guard=guard)
        taken += 1
    return taken


def run_once(app: App, inboxes: list[Inbox] | None = None) -> None:
    """Everything pending: files in every inbox (waiting for them to settle), then processing."""
    inboxes = build_inboxes(app) if inboxes is None else inboxes
    app.pipeline.process_pending()  # left over from an earlier run
    for inbox in inboxes:
        if isinstance(inbox.channel, SftpChannel):
            try:
                poll(app, inbox)
            except ChannelError:
                pass  # the channel logged what failed; the other partners go on
            app.pipeline.process_pending()
            continue
        deadline = time.monotonic() + inbox.channel.settle_seconds * 3 + 2
        while not app.pipeline.stopping:
            poll(app, inbox)
            app.pipeline.process_pending()
            if not inbox.channel.waiting() or time.monotonic() > deadline:
                break
            time.sleep(min(0.2, inbox.channel.settle_seconds))
    jobs = jobs_for(app)
    if jobs is not None and not app.pipeline.stopping:
        send_documents(app, jobs)
    if not app.pipeline.stopping:
        look_for_late_documents(app)


def look_for_late_documents(app: App) -> None:
    """Suppliers' documents that are late become exceptions (see gateway.late); never raises."""
    try:
        deliverer = app.deliverer
        check_late(app.store, app.profiles, deliverer.client if deliverer is not None else None)
    except Exception:
        logger.exception("the late-documents check failed; it runs again at the next turn")


def send_documents(app: App, jobs: OutboundJobs, partners: list[str] | None = None) -> Report:
    """Record the documents Odoo has for partners (all, or those named), then send what is recorded."""
    report = jobs.run(partners)
    app.pipeline.outbound.send_pending()
    return report


def _late_documents_job(app: App, work: threading.Lock) -> None:
    if not app.pipeline.stopping:
        with work:
            look_for_late_documents(app)


def _send_documents_job(app: App, jobs: OutboundJobs, partner: str, work: threading.Lock) -> None:
    """A scheduler job: one partner's documents from Odoo; never raises (logged, tried at the next turn)."""
    if app.pipeline.stopping:
        return
    try:
        with work:
            send_documents(app, jobs, [partner])
    except Exception:
        logger.exception("{}: sending documents from Odoo failed; trying again at the next scheduled turn", partner)


def _work(app: App, inboxes: list[Inbox], stop: threading.Event, wake: threading.Event) -> None:
    """One turn of the worker: pending messages, then every watched folder."""
    app.pipeline.process_pending()
    for inbox in inboxes:
        if stop.is_set():
            break
        try:
            if poll(app, inbox):
                app.pipeline.process_pending()
        except Exception:  # a partner's file or a full disk must not end the daemon
            logger.exception("{}: poll failed; retrying at the next rescan", inbox.channel.name)
        if inbox.channel.waiting():
            threading.Timer(inbox.channel.settle_seconds, wake.set).start()


def notify_systemd(state: str) -> None:
    """sd_notify without a dependency: one datagram to $NOTIFY_SOCKET, when systemd gave one."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall(state.encode())


def _poll_remote(app: App, inbox: Inbox, work: threading.Lock, wake: threading.Event) -> None:
    """A scheduler job: poll one SFTP channel; never raises (a partner's failure ends nothing)."""
    if app.pipeline.stopping:
        return
    try:
        if poll(app, inbox, guard=work):
            wake.set()
    except ChannelError:
        pass  # logged by the channel, which backs off before its next poll
    except Exception:
        logger.exception("{}: poll failed; retrying at the next scheduled poll", inbox.channel.name)


def _schedule(inbox: Inbox, settings: SftpChannelSettings):
    if settings.cron:
        return CronTrigger.from_crontab(settings.cron)
    return IntervalTrigger(seconds=inbox.rescan_seconds or 60.0)


def _serve_http(app: App):
    """The console (and the HTTP endpoints) on `[http] port`, in the daemon's process; None without a port."""
    if app.settings.http.port is None:
        return None
    from gateway.web.app import create_app
    from gateway.web.server import WebServer

    server = WebServer()
    server.start(create_app(app.settings), app.settings.http.host, int(app.settings.http.port))
    logger.info("console on http://{}:{}/", server.host, server.port)
    return server


def run_forever(app: App) -> None:
    # Open the store and the rest before any signal can arrive: the handler must only set flags
    # (opening the store from inside it, while the main thread holds SQLite's write lock, would wait
    # on itself).
    pipeline = app.pipeline
    everything = build_inboxes(app)
    inboxes = [inbox for inbox in everything if not isinstance(inbox.channel, SftpChannel)]
    remotes = [inbox for inbox in everything if isinstance(inbox.channel, SftpChannel)]
    wake = threading.Event()
    stop = threading.Event()
    work = threading.Lock()  # the worker's turn, or an SFTP poll recording a file: never both

    def on_signal(signum, _frame) -> None:
        logger.info("signal {} received: finishing the message in hand, then stopping", signum)
        pipeline.stopping = True
        stop.set()
        wake.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    scheduler = BackgroundScheduler()
    for inbox in inboxes:
        scheduler.add_job(wake.set, "interval", seconds=inbox.rescan_seconds, id=f"rescan {inbox.channel.name}")
    scheduler.add_job(wake.set, "interval", seconds=RETRY_CHECK_SECONDS, id="deliveries due")
    for inbox in remotes:
        scheduler.add_job(_poll_remote, _schedule(inbox, inbox.channel.settings), args=(app, inbox, work, wake),
                          id=f"poll {inbox.channel.name}", max_instances=1, coalesce=True,
                          next_run_time=datetime.now().astimezone())
    if any(p.purchasing.late_response or p.purchasing.late_asn or p.purchasing.late_invoice
           for p in app.profiles.values()):
        scheduler.add_job(_late_documents_job, IntervalTrigger(seconds=LATE_CHECK_SECONDS), args=(app, work),
                          id="late documents", max_instances=1, coalesce=True,
                          next_run_time=datetime.now().astimezone())
    jobs = jobs_for(app)
    for profile in jobs.senders() if jobs is not None else []:
        every = min(rule.schedule_seconds for rule in profile.send)
        scheduler.add_job(_send_documents_job, IntervalTrigger(seconds=every), args=(app, jobs, profile.id, work),
                          id=f"send documents {profile.id}", max_instances=1, coalesce=True,
                          next_run_time=datetime.now().astimezone())
    scheduler.start()
    web = _serve_http(app)
    observers = [inbox.channel.watch(wake.set) for inbox in inboxes]
    logger.info("edigw running: {} inbox(es), {} SFTP channel(s), store {}", len(inboxes), len(remotes),
                app.settings.store_url.split("://")[0])
    notify_systemd("READY=1")
    wake.set()  # files present at start-up count
    try:
        while not stop.is_set():
            wake.wait(timeout=1.0)
            wake.clear()
            if stop.is_set():
                break
            with work:
                _work(app, inboxes, stop, wake)
    finally:
        notify_systemd("STOPPING=1")
        scheduler.shutdown(wait=False)
        if web is not None:
            web.stop()
        for observer in observers:
            observer.stop()
        for observer in observers:
            observer.join(timeout=2)
        logger.info("edigw stopped")
