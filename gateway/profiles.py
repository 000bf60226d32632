"""Partner profiles: one YAML file per partner in `partners_dir`, the file name is its id.

A profile says who the partner is (envelope identifiers, the Odoo partner), where its files
come and go (channels), which messages it sends us and the template for each, and its
acknowledgment policy. Profiles are validated when loaded; every problem names the file and
the line, so `edigw partners validate` can list them all at once.

    name: ACME Retail
    odoo_partner: {ref: ACME}
    identifiers:
      edifact: {id: "5450534000000", qualifier: "14"}
      x12: {id: ACMEX12, qualifier: ZZ}
    channels:
      inbox: {type: folder, inbox: inbox/acme, after: move}
    receive:
      ORDERS: {template: edifact/ORDERS_D96A, overrides: {…}}
    acknowledgments: {send: false}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PARTNER_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
PROFILE_KEYS = {"name", "odoo_partner", "identifiers", "channels", "receive", "send",
                "acknowledgments", "test", "description"}
CHANNEL_KEYS = {"type", "inbox", "outbox", "processed", "failed", "after", "settle_seconds",
                "rescan_seconds", "patterns"}
RECEIVE_KEYS = {"template", "overrides", "versions"}
STANDARDS = ("edifact", "x12", "csv")


@dataclass(frozen=True)
class Problem:
    """A profile problem: where (file, line) and what."""

    file: Path
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else str(self.file)
        return f"{where}: {self.reason}"


class ProfileError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


@dataclass(frozen=True)
class FolderChannelSettings:
    name: str
    inbox: Path
    outbox: Path | None
    processed: Path | None
    failed: Path
    after: str
    settle_seconds: float
    rescan_seconds: float | None
    patterns: tuple[str, ...]


@dataclass(frozen=True)
class ReceiveRule:
    """Which template reads a message type from this partner (optionally only some versions)."""

    message_type: str
    template: str
    overrides: dict[str, Any] = field(default_factory=dict)
    versions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Profile:
    id: str
    file: Path
    name: str
    odoo_partner: dict[str, Any]
    identifiers: dict[str, dict[str, str]]
    channels: tuple[FolderChannelSettings, ...]
    receive: tuple[ReceiveRule, ...]
    acknowledgments: dict[str, Any]
    test: bool
    raw: dict[str, Any]

    def sender_id(self, standard: str) -> str | None:
        """The sender id this partner's envelopes must carry for a standard, if the profile says."""
        ids = self.identifiers.get(standard) or {}
        return ids.get("id")

    def rules_for(self, message_type: str | None) -> list[ReceiveRule]:
        return [rule for rule in self.receive if rule.message_type == message_type]

    def csv_rules(self) -> list[ReceiveRule]:
        return [rule for rule in self.receive if rule.template.startswith("csv/")]


class _LineLoader(yaml.SafeLoader):
    """A safe loader that remembers the line of every mapping key (for error messages)."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict:
    mapping = _LineDict()
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.lines[key] = key_node.start_mark.line + 1
    mapping.line = node.start_mark.line + 1
    return mapping


class _LineDict(dict):
    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[Any, int] = {}
        self.line: int | None = None


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _line(mapping: Any, key: Any = None) -> int | None:
    if isinstance(mapping, _LineDict):
        return mapping.lines.get(key, mapping.line) if key is not None else mapping.line
    return None


def _plain(value: Any) -> Any:
    """Line-tracking dicts back to plain dicts (profiles are compared and printed as data)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def load_profile(path: Path, state_dir: Path, templates_dir: Path | None = None) -> Profile:
    """Load and validate one profile; raises ProfileError listing every problem found."""
    problems: list[Problem] = []

    def problem(line: int | None, reason: str) -> None:
        problems.append(Problem(path, line, reason))

    partner_id = path.stem
    if not PARTNER_ID.match(partner_id):
        problem(None, f"file name {path.name!r} is not a valid partner id (lowercase letters, digits, - _ .)")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise ProfileError([Problem(path, mark.line + 1 if mark else None, f"not valid YAML: {error}")]) from None
    except UnicodeDecodeError:
        raise ProfileError([Problem(path, None, "not UTF-8 text")]) from None
    if not isinstance(data, dict):
        raise ProfileError([Problem(path, None, "a profile is a YAML mapping")])

    for key in data:
        if key not in PROFILE_KEYS:
            problem(_line(data, key), f"unknown key {key!r} (known: {', '.join(sorted(PROFILE_KEYS))})")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        problem(_line(data), "'name' is required: the partner's name as people know it")

    odoo_partner = data.get("odoo_partner") or {}
    if not isinstance(odoo_partner, dict) or not ({"ref", "id"} & set(odoo_partner)):
        problem(_line(data, "odoo_partner"), "'odoo_partner' must give the Odoo partner's 'ref' or 'id'")

    identifiers = data.get("identifiers") or {}
    if not isinstance(identifiers, dict):
        problem(_line(data, "identifiers"), "'identifiers' must be a mapping per standard")
        identifiers = {}
    for standard, ids in identifiers.items():
        if standard not in STANDARDS:
            problem(_line(identifiers, standard), f"unknown standard {standard!r} in identifiers (known: {', '.join(STANDARDS)})")
        elif not isinstance(ids, dict):
            problem(_line(identifiers, standard), f"identifiers.{standard} must be a mapping (id, qualifier)")

    channels: list[FolderChannelSettings] = []
    raw_channels = data.get("channels") or {}
    if not isinstance(raw_channels, dict):
        problem(_line(data, "channels"), "'channels' must be a mapping of channel name → settings")
        raw_channels = {}
    for channel_name, settings in raw_channels.items():
        line = _line(raw_channels, channel_name)
        if not isinstance(settings, dict):
            problem(line, f"channel {channel_name!r} must be a mapping")
            continue
        for key in settings:
            if key not in CHANNEL_KEYS:
                problem(_line(settings, key), f"unknown key {key!r} in channel {channel_name!r}")
        kind = settings.get("type")
        if kind != "folder":
            problem(_line(settings, "type"), f"channel {channel_name!r}: type {kind!r} is not supported here (folder)")
            continue
        if not settings.get("inbox"):
            problem(line, f"channel {channel_name!r}: 'inbox' (a folder) is required")
            continue
        after = settings.get("after", "move")
        if after not in ("move", "delete"):
            problem(_line(settings, "after"), f"channel {channel_name!r}: 'after' must be move or delete, not {after!r}")
        inbox = state_dir / settings["inbox"]
        channels.append(FolderChannelSettings(
            name=f"{partner_id}/{channel_name}",
            inbox=inbox,
            outbox=state_dir / settings["outbox"] if settings.get("outbox") else None,
            processed=(state_dir / settings["processed"] if settings.get("processed") else inbox / "processed")
            if after == "move" else None,
            failed=state_dir / settings["failed"] if settings.get("failed") else inbox / "failed",
            after=after,
            settle_seconds=float(settings.get("settle_seconds", 1.0)),
            rescan_seconds=float(settings["rescan_seconds"]) if settings.get("rescan_seconds") else None,
            patterns=tuple(settings.get("patterns") or ("*",)),
        ))

    receive: list[ReceiveRule] = []
    raw_receive = data.get("receive") or {}
    if not isinstance(raw_receive, dict):
        problem(_line(data, "receive"), "'receive' must map a message type to its template")
        raw_receive = {}
    for message_type, rules in raw_receive.items():
        for rule in rules if isinstance(rules, list) else [rules]:
            line = _line(raw_receive, message_type)
            if not isinstance(rule, dict) or not rule.get("template"):
                problem(line, f"receive.{message_type}: a 'template' is required")
                continue
            for key in rule:
                if key not in RECEIVE_KEYS:
                    problem(_line(rule, key), f"unknown key {key!r} in receive.{message_type}")
            template = str(rule["template"])
            if templates_dir is not None and not (templates_dir / f"{template}.yaml").is_file():
                problem(_line(rule, "template"), f"receive.{message_type}: no template {template!r} in {templates_dir}")
            receive.append(ReceiveRule(
                message_type=str(message_type),
                template=template,
                overrides=_plain(rule.get("overrides") or {}),
                versions=tuple(str(v) for v in rule.get("versions") or ()),
            ))

    acknowledgments = data.get("acknowledgments") or {}
    if problems:
        raise ProfileError(problems)
    return Profile(
        id=partner_id,
        file=path,
        name=name,
        odoo_partner=_plain(odoo_partner),
        identifiers=_plain(identifiers),
        channels=tuple(channels),
        receive=tuple(receive),
        acknowledgments=_plain(acknowledgments),
        test=bool(data.get("test", False)),
        raw=_plain(data),
    )


def profile_files(partners_dir: Path) -> list[Path]:
    return sorted(p for p in partners_dir.glob("*.yaml") if not p.name.startswith("."))


def load_profiles(partners_dir: Path, state_dir: Path, templates_dir: Path | None = None) -> dict[str, Profile]:
    """Every profile in the folder; raises ProfileError with the problems of all of them."""
    profiles: dict[str, Profile] = {}
    problems: list[Problem] = []
    for path in profile_files(partners_dir):
        try:
            profile = load_profile(path, state_dir, templates_dir)
        except ProfileError as error:
            problems.extend(error.problems)
            continue
        profiles[profile.id] = profile
    if problems:
        raise ProfileError(problems)
    return profiles
