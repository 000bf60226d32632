"""The daemon: wires channels, the scheduler and the workers; signals; sd_notify.

The main thread takes the files of the watched folders (claim, archive, record: quick) and hands
each partner's processing to a small pool of workers (`[processing] workers`, gateway.lanes): a
partner's files are processed in order on one worker at a time, so nothing is handled twice in
this process, while a slow file of one partner leaves the other workers to the other partners.
Watchdog events and the scheduler's rescans only wake the main thread. SFTP channels are polled
each on its own schedule in a scheduler thread (one connection per poll, with time-outs), which
hands what it took to its partner's lane. Documents from Odoo (`send:` in profiles,
`gateway.outbound_jobs`) are looked for per send rule on the rule's own schedule, demand signals
and late documents per partner on the profile's, each in a scheduler thread holding that
partner's lane. SIGTERM and SIGINT let
the workers finish the messages in hand, record them, and exit 0. SIGHUP reads the partner
profiles and templates again between two turns of the main thread, validated first: a bad
profile keeps the ones in use, and the log says why; a file being processed keeps the profile
it started with.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from loguru import logger

from gateway.app import App
from gateway.channels.base import ChannelError, ClaimedFile
from gateway.channels.folder import FolderChannel
from gateway.files import private_folder
from gateway.lanes import Lanes
from gateway.profiles import Profile, SftpChannelSettings
from gateway.runtime import Runtime
from gateway.store.db import NO_ROOM_RETRY_SECONDS, NoRoom, out_of_room

# Imported where they are needed: `run --once` on folders opens no SFTP connection, schedules
# nothing, and asks nothing of Odoo unless a partner sends or checks late documents.
if TYPE_CHECKING:
    from gateway.channels.sftp import SftpChannel
    from gateway.outbound_jobs import OutboundJobs, Report


LATE_CHECK_SECONDS = 600  # how often suppliers' late documents are looked for
RETRY_CHECK_SECONDS = 30  # how often the worker looks for deliveries whose retry time has come


@dataclass
class Inbox:
    profile: Profile
    channel: FolderChannel | SftpChannel
    rescan_seconds: float
    recovered: bool = False
    # After a full disk stopped a file's intake: not polled again before this time (monotonic).
    no_room_until: float = 0.0

    @property
    def remote(self) -> bool:
        """Fetched over SFTP, on a schedule, rather than a folder watched."""
        return not isinstance(self.channel, FolderChannel)


class AlreadyRunning(Exception):
    """Another `edigw run` works on this SQLite store; the message says which process."""


@contextmanager
def sole_runner(store_url: str) -> Iterator[None]:
    """On a SQLite store, the pipeline run by this process alone while the block lasts.

    Two `edigw run` on one SQLite store (a cron `run --once` still busy with a big file when the
    next starts, or one started beside the daemon) would both take the same received files: the
    second's messages collide with the first's and its failure marks the file held, and both
    deliver the same orders. A SQLite store is one machine's: an exclusive lock on a file beside
    it (flock, gone with the process however it ends) lets one run at a time. Several processes
    share a PostgreSQL store, each claiming its own work (see Store.claim_received).
    """
    if not store_url.startswith("sqlite:///") or store_url == "sqlite:///:memory:":
        yield
        return
    database = Path(store_url.removeprefix("sqlite:///"))
    path = database.with_name(database.name + ".run-lock")
    private_folder(path.parent)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 64, 0).decode(errors="replace").strip() or "unknown"
            raise AlreadyRunning(f"another edigw run (pid {holder}) is working on the store "
                                 f"{database}: one process at a time runs the pipeline of a SQLite "
                                 "store (several need PostgreSQL: see \"Several nodes\" in the README)") from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(descriptor)  # the lock goes with it


class SourceUnreadable(Exception):
    """The partner's file could not be read (the archive was not touched)."""


class StillBeingWritten(Exception):
    """The partner was still writing the file when it was read: nothing recorded, the file put back."""


class _SourceStream:
    """A read-only stream that tells a failure to read the source from a failure to archive.

    At the end of the stream the channel is asked whether what was read is the whole file; if
    not, StillBeingWritten is raised before the archive or the store have recorded anything.
    """

    def __init__(self, stream, channel=None, claimed: ClaimedFile | None = None) -> None:
        self.stream = stream
        self.channel = channel
        self.claimed = claimed
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        try:
            chunk = self.stream.read(size)
            why = None
            if not chunk and size != 0 and self.channel is not None:
                why = self.channel.still_written(self.claimed, self.stream, self.size)
        except OSError as error:
            raise SourceUnreadable(str(error)) from error
        if why is not None:
            raise StillBeingWritten(why)
        self.size += len(chunk)
        return chunk


def build_inboxes(app: App) -> list[Inbox]:
    inboxes = []
    for profile in app.profiles.values():
        for settings in profile.channels:
            if isinstance(settings, SftpChannelSettings):
                from gateway.channels.sftp import SftpChannel

                spool = app.settings.state_dir / "spool" / profile.id / settings.name.split("/", 1)[1]
                sftp = SftpChannel(settings, spool, max_size=app.settings.max_file_size)
                inboxes.append(Inbox(profile, sftp, settings.schedule_seconds or 0.0))
                continue
            channel = FolderChannel(
                name=settings.name, inbox=settings.inbox, processed_dir=settings.processed,
                failed_dir=settings.failed, after=settings.after, settle_seconds=settings.settle_seconds,
                patterns=settings.patterns, max_size=app.settings.max_file_size, outbox=settings.outbox)
            settings.inbox.mkdir(parents=True, exist_ok=True)
            channel.clean_leftovers()
            inboxes.append(Inbox(profile, channel, settings.rescan_seconds or app.settings.rescan_seconds))
    return inboxes


def take(app: App, inbox: Inbox, claimed: ClaimedFile, recovered: bool) -> None:
    """Archive and record one claimed file, then let the channel settle it.

    Only a failure to open or read the partner's file moves it to failed/. When the archive or
    the store fails (a full disk, the database away), the file stays claimed and the inbox looks
    for its claims again at its next poll, so it is taken once the cause is gone: NoRoom, after
    NO_ROOM_RETRY_SECONDS, for a full disk; anything else is raised to the caller.
    """
    try:
        try:
            opened = inbox.channel.open(claimed)
        except OSError as error:
            raise SourceUnreadable(str(error)) from error
        with opened as stream:
            app.pipeline.intake(inbox.profile, claimed, _SourceStream(stream, inbox.channel, claimed),
                                recovered=recovered)
    except StillBeingWritten as why:
        logger.warning("{}: {file!r} was not taken: {}", inbox.channel.name, why, file=claimed.original_name)
        inbox.channel.put_back(claimed)
        return
    except SourceUnreadable as error:
        logger.warning("{}: {file!r} cannot be read: {}", inbox.channel.name, error, file=claimed.original_name)
        inbox.channel.fail(claimed, f"the file could not be read: {error}")
        return
    except Exception as error:
        inbox.recovered = False  # the claim is handed out again at the next poll, not only after a restart
        room = out_of_room(error)
        if room is None:
            logger.error("{}: {file!r} could not be archived and recorded, left claimed in the inbox: {!r}",
                         inbox.channel.name, error, file=claimed.original_name)
            raise
        inbox.no_room_until = time.monotonic() + NO_ROOM_RETRY_SECONDS
        raise NoRoom(f"{inbox.channel.name}: {claimed.original_name!r} could not be archived and recorded: {room}; "
                     f"it stays claimed in the inbox, taken again in {NO_ROOM_RETRY_SECONDS} s or by the next run"
                     ) from error
    inbox.channel.done(claimed)


INTAKE_BATCH = 20  # files of a folder taken at a time before they are processed (nodes share the rest)


def poll(app: App, inbox: Inbox, limit: int | None = None) -> int:
    """Take every settled file of one inbox (at most `limit`); returns how many were taken.

    An SFTP channel is polled over one connection (none while it backs off after failures);
    its ChannelError is logged by the channel and raised to the caller. On PostgreSQL a channel
    another node holds is left for this turn (an advisory lock per channel).
    """
    remote = inbox.remote
    if remote and inbox.channel.backing_off():
        return 0
    if time.monotonic() < inbox.no_room_until:
        return 0  # a full disk stopped its last intake: not tried again before its time
    # Several nodes on one PostgreSQL store. Nodes scanning a folder take its files side by side
    # (the lock shared): each file is claimed by one rename, which one node wins. A node looking
    # for claims left by a crash must be alone (the lock exclusive), from the claim to the file
    # moved aside, so that it mistakes no other node's claim in hand for its own leftover; an
    # SFTP channel is polled by one node at a time.
    alone = remote or not inbox.recovered
    lock = app.store.exclusive if alone else app.store.shared
    with lock(f"channel {inbox.channel.name}") as ours:
        if not ours:
            (logger.info if remote else logger.debug)(
                "{}: another node is polling this channel; not polled this turn", inbox.channel.name)
            return 0
        if remote:
            with inbox.channel.polling():
                return _take_all(app, inbox)
        return _take_all(app, inbox, limit)


def _take_all(app: App, inbox: Inbox, limit: int | None = None) -> int:
    with app.store.one_anchor():  # the audit anchor moved once for the files taken, not once each
        return _take_each(app, inbox, limit)


def _take_each(app: App, inbox: Inbox, limit: int | None) -> int:
    taken = 0
    if not inbox.recovered:
        for claimed in inbox.channel.recover():
            take(app, inbox, claimed, recovered=True)
            taken += 1
        inbox.recovered = True
    for claimed in inbox.channel.scan():
        if app.pipeline.stopping:
            break
        take(app, inbox, claimed, recovered=False)
        taken += 1
        if limit is not None and taken >= limit:
            break  # the rest is claimed at the next poll (a generator: nothing more was claimed)
    for name, reason in inbox.channel.refusals():
        app.pipeline.refuse(inbox.profile, inbox.channel.name, name, reason)
    return taken


def run_once(app: App, inboxes: list[Inbox] | None = None) -> list[str]:
    """Everything pending: files in every inbox (waiting for them to settle), then processing.

    One partner after another, in this thread (`[processing] workers` is the daemon's): a run
    ends when everything is done, so there is no other partner's file for a slow one to hold up.
    Returns what a full disk left undone (files left in their inbox, exchanges left received),
    each in a sentence; the next run takes it up."""
    undone: list[str] = []
    inboxes = build_inboxes(app) if inboxes is None else inboxes
    app.pipeline.process_pending()  # left over from an earlier run
    for inbox in inboxes:
        if inbox.remote:
            try:
                _poll_noting(app, inbox, undone)
            except ChannelError:
                pass  # the channel logged what failed; the other partners go on
            app.pipeline.process_pending()
            continue
        patience = inbox.channel.settle_seconds * 3 + 2
        deadline = time.monotonic() + patience
        while not app.pipeline.stopping:
            # A batch at a time, processed before the next: other nodes take and process the rest.
            taken = _poll_noting(app, inbox, undone, limit=INTAKE_BATCH)
            if app.pipeline.process_pending() or taken:
                deadline = time.monotonic() + patience  # work is going on: wait while files remain
                continue
            if not inbox.channel.waiting() or time.monotonic() > deadline:
                break
            time.sleep(min(0.2, inbox.channel.settle_seconds))
    jobs = _outbound_jobs(app)
    if jobs is not None and not app.pipeline.stopping:
        send_documents(app, jobs)
    if not app.pipeline.stopping:
        look_for_late_documents(app)
    for profile in app.profiles.values():
        if profile.signals is not None and not app.pipeline.stopping:
            send_signals(app, profile.id)
    if app.pipeline.no_room is not None:
        undone.append(app.pipeline.no_room)
    return undone


def _poll_noting(app: App, inbox: Inbox, undone: list[str], limit: int | None = None) -> int:
    """`poll`, a full disk said in the log and noted in `undone` instead of raised: the files taken
    before it are processed, and this inbox waits for the next run."""
    try:
        return poll(app, inbox, limit=limit)
    except NoRoom as error:
        logger.error("{}", error)
        undone.append(str(error))
        return 0


def send_signals(app: App, partner: str) -> None:
    """A forecasting tool's demand-signal feed: a file of what came in since the last one, sent; never raises."""
    from gateway.signals import record_feed

    try:
        with app.store.exclusive(f"signals {partner}") as ours:
            if ours:
                record_feed(app.store, app.archive, app.pipeline.outbound, app.profiles[partner])
        app.pipeline.outbound.send_pending(partner)
    except Exception:
        logger.exception("{}: the demand-signal feed failed; it is tried again at the next scheduled turn", partner)


def _signals_job(app: App, partner: str, lanes: Lanes) -> None:
    if not app.pipeline.stopping:
        with lanes.holding(partner):
            send_signals(app, partner)


def look_for_late_documents(app: App, partner: str | None = None) -> None:
    """Suppliers' documents (of all, or of one) that are late become exceptions (see gateway.late); never raises."""
    try:
        profiles = app.profiles if partner is None else {partner: app.profiles[partner]}
        if not any(_checks_late(profile) for profile in profiles.values()):
            return  # nothing to look for (nor Odoo to open)
        from gateway.late import check_late

        deliverer = app.deliverer
        check_late(app.store, profiles, deliverer.client if deliverer is not None else None)
    except Exception:
        logger.exception("the late-documents check failed; it runs again at the next turn")


def send_documents(app: App, jobs: OutboundJobs, partners: list[str] | None = None,
                   document_types: list[str] | None = None) -> Report:
    """Record the documents Odoo has for partners (all, or those named; of every type, or those named),
    then send what is recorded."""
    report = jobs.run(partners, document_types)
    for partner in partners or [None]:
        app.pipeline.outbound.send_pending(partner)
    return report


def _outbound_jobs(app: App) -> OutboundJobs | None:
    """The jobs that send documents from Odoo, when some partner has `send:` rules (gateway.outbound_jobs)."""
    if not any(profile.send for profile in app.profiles.values()):
        return None
    from gateway.outbound_jobs import jobs_for

    return jobs_for(app)


def _checks_late(profile: Profile) -> bool:
    policy = profile.purchasing
    return bool(policy.late_response or policy.late_asn or policy.late_invoice)


def _late_documents_job(app: App, lanes: Lanes) -> None:
    """A scheduler job: each supplier's late documents, checked in its lane (never beside its own files)."""
    for partner in [profile.id for profile in app.profiles.values() if _checks_late(profile)]:
        if app.pipeline.stopping:
            return
        with lanes.holding(partner):
            if partner in app.profiles:  # not removed by a reload meanwhile
                look_for_late_documents(app, partner)


def _send_documents_job(app: App, jobs: OutboundJobs, partner: str, document_type: str, lanes: Lanes) -> None:
    """A scheduler job: one send rule's documents from Odoo (a partner's, of one type); never raises
    (logged, tried at the next turn)."""
    if app.pipeline.stopping:
        return
    try:
        with lanes.holding(partner):
            send_documents(app, jobs, [partner], [document_type])
    except Exception:
        logger.exception("{}: sending {} documents from Odoo failed; trying again at the next scheduled turn",
                         partner, document_type)


def _schedule_send_rules(scheduler, app: App, lanes: Lanes) -> None:
    """One job per partner and send rule, each at the rule's own `schedule` (an invoice rule of an hour
    is not run at the pace of a despatch-advice rule of a minute).

    Called again after a reload: the rules now in use are scheduled with the templates now in use; a
    rule whose schedule did not change keeps its next turn, a new or changed one runs at once.
    """
    from apscheduler.triggers.interval import IntervalTrigger

    before = {job.id: job for job in scheduler.get_jobs() if job.id.startswith("send documents ")}
    jobs = _outbound_jobs(app)
    now = datetime.now().astimezone()
    for profile in jobs.senders() if jobs is not None else []:
        for rule in profile.send:
            name = f"send documents {profile.id} {rule.document_type}"
            old = before.pop(name, None)
            same = old is not None and old.trigger.interval.total_seconds() == rule.schedule_seconds
            scheduler.add_job(_send_documents_job, IntervalTrigger(seconds=rule.schedule_seconds),
                              args=(app, jobs, profile.id, rule.document_type, lanes), id=name, max_instances=1,
                              coalesce=True, replace_existing=True, next_run_time=old.next_run_time if same else now)
    for gone in before:
        scheduler.remove_job(gone)


def _turn(app: App, inboxes: list[Inbox], lanes: Lanes, stop: threading.Event, wake: threading.Event,
          runtime: Runtime | None = None) -> None:
    """One turn of the main thread: every watched folder's settled files taken, each batch handed to
    its partner's lane at once; then a turn for every partner with other work waiting."""
    for inbox in inboxes:
        if stop.is_set():
            break
        taken = INTAKE_BATCH
        while taken >= INTAKE_BATCH and not stop.is_set():  # a batch at a time: its processing begins meanwhile
            try:
                taken = poll(app, inbox, limit=INTAKE_BATCH)
            except NoRoom as error:  # a full disk: said in a line, the inbox polled again after a while
                logger.error("{}", error)
                if runtime is not None:
                    runtime.polled(inbox.channel.name, str(error))
                break
            except Exception as error:  # a partner's file or a full disk must not end the daemon
                logger.exception("{}: poll failed; retrying at the next rescan", inbox.channel.name)
                if runtime is not None:
                    runtime.polled(inbox.channel.name, str(error))
                break
            if runtime is not None:
                runtime.polled(inbox.channel.name)
            if taken:
                lanes.ask(inbox.profile.id)
        if inbox.channel.waiting():
            threading.Timer(inbox.channel.settle_seconds, wake.set).start()
    if stop.is_set():
        return
    for partner in partners_with_work(app):  # left from before, retries now due, what SFTP polls took
        lanes.ask(partner)
    app.pipeline.outbound.check_overdue()


def partners_with_work(app: App) -> list[str]:
    """Partners with files to process, documents to deliver (a retry now due), acknowledgments to make
    or exchanges to send: the turns `process_pending(partner)` has something to do in."""
    from sqlalchemy import select, union

    from gateway.store.models import Exchange, Message, utcnow

    waiting = [
        select(Exchange.partner).where(Exchange.direction == "in", Exchange.state == "received"),
        select(Exchange.partner).where(Exchange.direction == "in", Exchange.state == "processed",
                                       Exchange.ack_state.is_(None)),
        select(Exchange.partner).where(Exchange.direction == "out", Exchange.state == "rendered"),
    ]
    if app.pipeline.deliverer is not None:
        waiting.append(select(Message.partner).where(Message.direction == "in", (Message.state == "translated") | (
            (Message.state == "retrying") & (Message.next_attempt_at <= utcnow()))))
    with app.store.session() as session:
        return sorted(session.scalars(union(*waiting)))


def notify_systemd(state: str) -> None:
    """sd_notify without a dependency: one datagram to $NOTIFY_SOCKET, when systemd gave one.

    The protocol is these few lines (a datagram of KEY=value lines on a Unix socket), so no
    library is taken on for it.
    """
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall(state.encode())


def _poll_remote(app: App, inbox: Inbox, lanes: Lanes, runtime: Runtime | None = None) -> None:
    """A scheduler job: poll one SFTP channel, its files then processed in its partner's lane; never
    raises (a partner's failure ends nothing)."""
    if app.pipeline.stopping:
        return
    error = None
    try:
        if poll(app, inbox):
            lanes.ask(inbox.profile.id)
    except ChannelError as failure:
        error = str(failure)  # logged by the channel, which backs off before its next poll
    except NoRoom as failure:
        error = str(failure)
        logger.error("{}", failure)
    except Exception as failure:
        error = str(failure)
        logger.exception("{}: poll failed; retrying at the next scheduled poll", inbox.channel.name)
    if runtime is not None:
        runtime.polled(inbox.channel.name, error)


def _schedule(inbox: Inbox, settings: SftpChannelSettings):
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    if settings.cron:
        return CronTrigger.from_crontab(settings.cron)
    return IntervalTrigger(seconds=inbox.rescan_seconds or 60.0)


def _retention_job(app: App) -> None:
    """A scheduler job, daily: `edigw purge` with `[retention] days`; never raises.

    It runs beside the workers, as it does beside other nodes': it removes only finished
    exchanges older than the retention, in one transaction, and keeps whatever still waits."""
    from gateway.retention import purge

    try:
        purge(app.store, app.archive, app.settings.retention_days)
    except Exception:
        logger.exception("the retention purge failed; it runs again tomorrow")


def _alerts_job(alerter) -> None:
    """A scheduler job: one interval's alerts; never raises (what was not sent stays in the store)."""
    try:
        alerter.run()
    except Exception:
        logger.exception("sending alerts failed; trying again at the next interval")


def _schedule_remotes(scheduler, remotes: list[Inbox], app: App, lanes: Lanes, runtime: Runtime) -> None:
    for inbox in remotes:
        scheduler.add_job(_poll_remote, _schedule(inbox, inbox.channel.settings), args=(app, inbox, lanes, runtime),
                          id=f"poll {inbox.channel.name}", max_instances=1, coalesce=True,
                          next_run_time=datetime.now().astimezone())


def _rebuild_inboxes(app: App, scheduler, observers: list, remotes: list[Inbox], lanes: Lanes,
                     wake: threading.Event, runtime: Runtime):
    """After a reload: the channels of the profiles now in use, watched and scheduled again."""
    for observer in observers:
        observer.stop()
    for inbox in remotes:
        scheduler.remove_job(f"poll {inbox.channel.name}")
    everything = build_inboxes(app)
    inboxes = [inbox for inbox in everything if not inbox.remote]
    remotes = [inbox for inbox in everything if inbox.remote]
    for inbox in everything:
        runtime.add_channel(inbox.channel.name, inbox.profile.id, inbox.rescan_seconds or 60.0)
    for inbox in inboxes:
        scheduler.add_job(wake.set, "interval", seconds=inbox.rescan_seconds, id=f"rescan {inbox.channel.name}",
                          replace_existing=True)
    _schedule_remotes(scheduler, remotes, app, lanes, runtime)
    wake.set()
    return inboxes, remotes, [inbox.channel.watch(wake.set) for inbox in inboxes]


def _serve_http(app: App, runtime: Runtime):
    """Health, metrics and the console on `[http] port` (none when no port is set); the WebServer, or None."""
    if app.settings.http.port is None:
        return None
    from gateway.web.app import create_app
    from gateway.web.server import WebServer

    web = WebServer()
    web.start(create_app(app.settings, runtime), app.settings.http.host, int(app.settings.http.port))
    logger.info("console, health and metrics on http://{}:{}/ (healthz, readyz, metrics)", app.settings.http.host,
                web.port)
    return web


def reload_profiles(app: App) -> bool:
    """Profiles and templates read again and checked before any is used (SIGHUP); True if in use now.

    The new set is loaded beside the old one, every receiving rule's template is loaded, and only
    then are they swapped in (in place: the pipeline and outbound share the same dict). On a
    problem the profiles and templates in use stay, and the log names the file and why.
    """
    from gateway.pipeline import TemplateSet
    from gateway.profiles import ProfileError, load_profiles

    try:
        profiles = load_profiles(app.settings.partners_dir, app.settings.state_dir, app.settings.templates)
        templates = TemplateSet(app.settings.templates)
        for profile in profiles.values():
            for rule in profile.receive:
                templates.load(rule.template, rule.overrides)
    except ProfileError as error:
        logger.error("reload refused, the profiles in use stay: {}", error)
        return False
    except Exception as error:  # a template's own validation error names its file and line
        logger.error("reload refused, the profiles in use stay: {}", error)
        return False
    # Swapped without emptying the dict first: a worker looking its partner up meanwhile finds the old
    # profile or the new one, never none.
    app.profiles.update(profiles)
    for gone in set(app.profiles) - set(profiles):
        del app.profiles[gone]
    app.__dict__["templates"] = app.pipeline.templates = templates
    logger.info("reloaded {} partner profile(s) and their templates: {}", len(profiles), ", ".join(sorted(profiles)))
    return True


def _watchdog_interval() -> float | None:
    """Half of systemd's WatchdogSec (WATCHDOG_USEC), when this process is the one watched."""
    usec = os.environ.get("WATCHDOG_USEC")
    if not usec or os.environ.get("WATCHDOG_PID", str(os.getpid())) != str(os.getpid()):
        return None
    return int(usec) / 2_000_000


def run_forever(app: App) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.interval import IntervalTrigger

    # Open the store and the rest before any signal can arrive: the handler must only set flags
    # (opening the store from inside it, while the main thread holds SQLite's write lock, would wait
    # on itself).
    pipeline = app.pipeline
    everything = build_inboxes(app)
    inboxes = [inbox for inbox in everything if not inbox.remote]
    remotes = [inbox for inbox in everything if inbox.remote]
    wake = threading.Event()
    stop = threading.Event()
    lanes = Lanes(app.settings.workers, pipeline.process_pending)
    runtime = Runtime()
    for inbox in everything:
        runtime.add_channel(inbox.channel.name, inbox.profile.id, inbox.rescan_seconds or 60.0)

    def on_signal(signum, _frame) -> None:
        logger.info("signal {} received: finishing the message in hand, then stopping", signum)
        pipeline.stopping = True
        stop.set()
        wake.set()

    reload_asked = threading.Event()

    def on_reload(_signum, _frame) -> None:
        reload_asked.set()
        wake.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_reload)

    scheduler = BackgroundScheduler()
    for inbox in inboxes:
        scheduler.add_job(wake.set, "interval", seconds=inbox.rescan_seconds, id=f"rescan {inbox.channel.name}")
    scheduler.add_job(wake.set, "interval", seconds=RETRY_CHECK_SECONDS, id="deliveries due")
    _schedule_remotes(scheduler, remotes, app, lanes, runtime)
    if any(_checks_late(profile) for profile in app.profiles.values()):
        scheduler.add_job(_late_documents_job, IntervalTrigger(seconds=LATE_CHECK_SECONDS), args=(app, lanes),
                          id="late documents", max_instances=1, coalesce=True,
                          next_run_time=datetime.now().astimezone())
    _schedule_send_rules(scheduler, app, lanes)
    for profile in app.profiles.values():
        if profile.signals is not None:
            scheduler.add_job(_signals_job, IntervalTrigger(seconds=profile.signals.schedule_seconds),
                              args=(app, profile.id, lanes), id=f"signals {profile.id}", max_instances=1, coalesce=True)
    if app.settings.retention_days:
        scheduler.add_job(_retention_job, IntervalTrigger(hours=24), args=(app,), id="retention",
                          max_instances=1, coalesce=True)
    if app.settings.alerts is not None and app.settings.alerts.enabled:
        from gateway.alerts import Alerter

        alerter = Alerter(app.settings.alerts, app.store, runtime)
        scheduler.add_job(_alerts_job, IntervalTrigger(seconds=app.settings.alerts.interval_seconds), args=(alerter,),
                          id="alerts", max_instances=1, coalesce=True)
    scheduler.start()
    web = _serve_http(app, runtime)
    observers = [inbox.channel.watch(wake.set) for inbox in inboxes]
    logger.info("edigw running: {} inbox(es), {} SFTP channel(s), {} worker(s), store {}", len(inboxes),
                len(remotes), app.settings.workers, app.settings.store_url.split("://")[0])
    status = f"STATUS=running: {len(inboxes)} inbox(es), {len(remotes)} SFTP channel(s)"
    notify_systemd(f"READY=1\n{status}")
    watchdog, pinged = _watchdog_interval(), 0.0
    wake.set()  # files present at start-up count
    try:
        while not stop.is_set():
            wake.wait(timeout=min(1.0, watchdog or 1.0))
            wake.clear()
            if watchdog and time.monotonic() - pinged >= watchdog:
                notify_systemd("WATCHDOG=1")  # from the main loop: a stuck one is restarted (a slow file has its budget)
                pinged = time.monotonic()
            if stop.is_set():
                break
            if reload_asked.is_set():
                reload_asked.clear()
                notify_systemd("RELOADING=1\nSTATUS=reloading partner profiles and templates")
                if reload_profiles(app):
                    inboxes, remotes, observers = _rebuild_inboxes(
                        app, scheduler, observers, remotes, lanes, wake, runtime)
                    _schedule_send_rules(scheduler, app, lanes)
                    status = f"STATUS=running: {len(inboxes)} inbox(es), {len(remotes)} SFTP channel(s)"
                    notify_systemd(f"READY=1\n{status}")
                else:
                    notify_systemd(f"READY=1\n{status}; the last reload was refused (see the log)")
            started = time.monotonic()
            _turn(app, inboxes, lanes, stop, wake, runtime)
            if time.monotonic() - started > 5:  # a long turn is worth a line in `systemctl status`
                notify_systemd(f"{status}; last long turn {time.monotonic() - started:.0f} s")
    finally:
        notify_systemd("STOPPING=1")
        lanes.close()  # the workers finish the messages in hand (the pipeline is stopping) and end
        if web is not None:
            web.stop()
        scheduler.shutdown(wait=False)
        if web is not None:
            web.stop()
        for observer in observers:
            observer.stop()
        for observer in observers:
            observer.join(timeout=2)
        logger.info("edigw stopped")
