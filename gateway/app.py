"""The gateway's parts, opened from settings: store, archive, profiles, templates, pipeline."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from functools import cached_property

from loguru import logger

from gateway.config import Settings
from gateway.pipeline import Pipeline, TemplateSet
from gateway.profiles import Profile, load_profiles
from gateway.store.archive import Archive
from gateway.store.db import Store, open_store


def setup_logging(settings: Settings, json_lines: bool = False) -> None:
    """One line per event on stderr, human-readable or JSON; secrets are never passed to it."""
    logger.remove()
    logger.configure(patcher=_escape_control_characters)
    if json_lines or settings.log_format == "json":
        logger.add(sys.stderr, level=settings.log_level, serialize=True)
    else:
        logger.add(sys.stderr, level=settings.log_level,
                   format="{time:YYYY-MM-DD HH:mm:ss.SSS} {level: <7} {message}")


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _escape_control_characters(record: dict) -> None:
    """One event, one line: a newline in a partner's file name (or any text) cannot forge a log line."""
    record["message"] = _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"),
                                     record["message"])


@dataclass
class App:
    settings: Settings

    @cached_property
    def store(self) -> Store:
        store = open_store(self.settings.store_url)
        store.keep_anchor(self.settings.state_dir)
        return store

    @cached_property
    def archive(self) -> Archive:
        return Archive(self.settings.archive_dir)

    @cached_property
    def templates(self) -> TemplateSet:
        return TemplateSet(self.settings.templates)

    @cached_property
    def profiles(self) -> dict[str, Profile]:
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
        return Pipeline(self.settings, self.store, self.archive, self.profiles, self.templates,
                        deliverer=self.deliverer)

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()
