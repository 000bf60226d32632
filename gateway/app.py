"""The gateway's parts, opened from settings: store, archive, profiles, templates, pipeline."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from datetime import timezone
from functools import cached_property
from typing import TYPE_CHECKING

from loguru import logger

from gateway.config import Settings

# Each part is imported when first opened: a command that only reads the store starts quickly.
if TYPE_CHECKING:
    from gateway.pipeline import Pipeline, TemplateSet
    from gateway.profiles import Profile
    from gateway.store.archive import Archive
    from gateway.store.db import Store


def setup_logging(settings: Settings, json_lines: bool = False) -> None:
    """One line per event on stderr, human-readable or JSON; secrets are never passed to it.

    Times are UTC and say so. JSON lines are flat objects: `ts` (UTC, ending in Z), `level`,
    `message`, and, when the event concerns them, `partner`, `channel`, `exchange_id`,
    `message_id`, `event` (the state reached), `file` (a partner's file name, as it is) and
    `exception` (a traceback's text).
    """
    logger.remove()
    logger.configure(patcher=_escape_control_characters)
    if json_lines or settings.log_format == "json":
        logger.add(_json_line, level=settings.log_level)
    else:
        logger.add(sys.stderr, level=settings.log_level,
                   format="{time:YYYY-MM-DD HH:mm:ss.SSS!UTC} UTC {level: <7} {message}")


# The subjects our log lines name first, by the words they start with ("message 12 acme-retail ...",
# "exchange 7 ORDERS.edi from acme-retail: received"): read here, so that every module logs plainly.
_SUBJECT = re.compile(r"^(?:outbound )?(?P<kind>exchange|message) (?P<id>\d+)\b")
_MESSAGE_PARTNER = re.compile(r"^message \d+ (?P<partner>[a-z0-9][a-z0-9_.-]*) ")
_FROM_PARTNER = re.compile(r" (?:from|to|of) (?P<partner>[a-z0-9][a-z0-9_.-]*)(?:[:;,]| \(|$)")
_EVENT = re.compile(r": (?P<event>[a-z]+)(?: \(|$|;)")


def _json_line(message) -> None:
    from gateway.queries import MESSAGE_STATES

    record = message.record
    text = record["message"]
    line: dict[str, object] = {
        "ts": record["time"].astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "level": record["level"].name, "message": text}
    extra = record["extra"]
    subject = _SUBJECT.match(text)
    partner = _MESSAGE_PARTNER.match(text) or _FROM_PARTNER.search(text)
    event = _EVENT.search(text)
    found = {
        "partner": extra.get("partner") or (partner.group("partner") if partner else None),
        "channel": extra.get("channel"),
        "file": extra.get("file"),  # a partner's file name: a field of its own, whatever it holds
        "exchange_id": extra.get("exchange") or (int(subject.group("id")) if subject and subject.group("kind") ==
                                                  "exchange" else None),
        "message_id": extra.get("message") or (int(subject.group("id")) if subject and subject.group("kind") ==
                                                "message" else None),
        "event": extra.get("event") or (event.group("event") if event and event.group("event") in MESSAGE_STATES
                                        else None),
    }
    if found["partner"] is None and found["channel"]:
        found["partner"] = found["channel"].split("/", 1)[0]  # channels are named partner/name
    line.update({key: value for key, value in found.items() if value is not None})
    if record["exception"] is not None:
        import traceback

        line["exception"] = "".join(traceback.format_exception(*record["exception"])).rstrip()
    sys.stderr.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _escape_control_characters(record: dict) -> None:
    """One event, one line: a newline in a partner's file name (or any text) cannot forge a log line."""
    record["message"] = _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"),
                                     record["message"])


@dataclass
class App:
    settings: Settings
    upgrade: bool = False  # upgrade a store made by an older edigw (otherwise opening it says so and stops)

    @cached_property
    def store(self) -> Store:
        from gateway.store.db import open_store

        store = open_store(self.settings.store_url, upgrade=self.upgrade)
        store.keep_anchor(self.settings.state_dir)
        return store

    @cached_property
    def archive(self) -> Archive:
        from gateway.store.archive import open_archive

        return open_archive(self.settings)

    @cached_property
    def templates(self) -> TemplateSet:
        from gateway.pipeline import TemplateSet

        return TemplateSet(self.settings.templates)

    @cached_property
    def profiles(self) -> dict[str, Profile]:
        from gateway.profiles import load_profiles

        return load_profiles(self.settings.partners_dir, self.settings.state_dir, self.settings.templates)

    @cached_property
    def deliverer(self):
        """The Odoo deliverer when `[odoo] url` is set; None leaves messages `translated`."""
        if not self.settings.odoo.url:
            return None
        from gateway.odoo.inbound import OdooDeliverer

        return OdooDeliverer(self.settings.odoo)

    @cached_property
    def pipeline(self) -> Pipeline:
        from gateway.pipeline import Pipeline

        return Pipeline(self.settings, self.store, self.archive, self.profiles, self.templates,
                        deliverer=self.deliverer)

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()
