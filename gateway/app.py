"""The gateway's parts, opened from settings: store, archive, profiles, templates, pipeline."""

from __future__ import annotations

import sys
from dataclasses import dataclass
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
    """One line per event on stderr, human-readable or JSON; secrets are never passed to it."""
    logger.remove()
    if json_lines or settings.log_format == "json":
        logger.add(sys.stderr, level=settings.log_level, serialize=True)
    else:
        logger.add(sys.stderr, level=settings.log_level,
                   format="{time:YYYY-MM-DD HH:mm:ss.SSS} {level: <7} {message}")


@dataclass
class App:
    settings: Settings
    upgrade: bool = False  # upgrade a store made by an older edigw (otherwise opening it says so and stops)

    @cached_property
    def store(self) -> Store:
        from gateway.store.db import open_store

        return open_store(self.settings.store_url, upgrade=self.upgrade)

    @cached_property
    def archive(self) -> Archive:
        from gateway.store.archive import Archive

        return Archive(self.settings.archive_dir)

    @cached_property
    def templates(self) -> TemplateSet:
        from gateway.pipeline import TemplateSet

        return TemplateSet(self.settings.templates_dir)

    @cached_property
    def profiles(self) -> dict[str, Profile]:
        from gateway.profiles import load_profiles

        return load_profiles(self.settings.partners_dir, self.settings.state_dir, self.settings.templates_dir)

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
