"""gateway.toml → typed settings, with a default for every setting that works on one machine.

Relative paths in the file are taken from the file's own folder; with no file, from the
current directory. Secrets are never in the file itself: `password_file` or `password_env`
(and `api_key_file` or `api_key_env`) name where they are.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.mapping.templatedirs import TemplateDirs
from gateway.shipped import BASE_TEMPLATES, EXAMPLE_PARTNERS

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG_NAMES = ("gateway.toml",)


class ConfigError(Exception):
    """A setting is missing, malformed or points nowhere; the message names the file and key."""


@dataclass(frozen=True)
class OdooSettings:
    url: str | None = None
    db: str | None = None
    user: str | None = None
    password_file: Path | None = None
    password_env: str | None = None
    timeout: float = 30.0
    api: str = "jsonrpc"  # or "json2": Odoo 19's /json/2 API with a bearer API key instead of a login
    api_key_file: Path | None = None
    api_key_env: str | None = None

    def password(self) -> str | None:
        return _secret(self.password_file, self.password_env)

    def api_key(self) -> str | None:
        return _secret(self.api_key_file, self.api_key_env)


def _secret(path: Path | None, variable: str | None) -> str | None:
    if path is not None:
        return path.read_text(encoding="utf-8").strip()
    if variable is not None:
        return os.environ.get(variable)
    return None


@dataclass(frozen=True)
class HttpSettings:
    host: str = "127.0.0.1"
    port: int | None = None  # no health/metrics endpoint unless a port is set
    # The console: a header a reverse proxy sets to the signed-in person's user name (single
    # sign-on; off unless named), and cookies sent over HTTPS only (behind a TLS proxy).
    trusted_user_header: str | None = None
    secure_cookies: bool = False


@dataclass(frozen=True)
class Identity:
    """Our own envelope identifiers (`[identity]`): the sender of what we write.

        [identity.edifact]
        id = "4099999000003"      # UNB sender (0004)
        qualifier = "14"          # its code qualifier (0007)
        [identity.x12]
        qualifier = "ZZ"          # ISA05
        id = "DISTRIBUTOR"        # ISA06
        gs_id = "DISTRIBUTOR"     # GS02 (default: the ISA id)

    A standard left out: acknowledgments are sent as the id the partner addressed (its
    interchange's receiver); outbound documents need it set.
    """

    edifact: dict[str, str] = field(default_factory=dict)
    x12: dict[str, str] = field(default_factory=dict)

    def of(self, standard: str) -> dict[str, str]:
        return dict(getattr(self, standard, None) or {})


IDENTITY_KEYS = {"edifact": {"id", "qualifier"}, "x12": {"id", "qualifier", "gs_id"}}


@dataclass(frozen=True)
class Settings:
    config_file: Path | None
    state_dir: Path
    store_url: str
    archive_dir: Path
    partners_dir: Path
    templates_dir: Path
    max_file_size: int = 256 * 1024 * 1024
    file_seconds: float = 120.0  # `[limits] file_seconds`: a file still being parsed after this is held (0: no limit)
    rescan_seconds: float = 30.0
    workers: int = 2  # `[processing] workers`: partners processed side by side by the daemon
    delivery_attempts: int = 48  # with back-off up to an hour: about two days of Odoo outage
    log_format: str = "text"
    log_level: str = "INFO"
    odoo: OdooSettings = field(default_factory=OdooSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    identity: Identity = field(default_factory=Identity)
    alerts: Any = None  # gateway.alerts.AlertSettings when `[alerts]` is present
    retention_days: float | None = None  # `[retention] days`: purge what is older and no longer needed
    archive_url: str | None = None  # `[archive] url`: the archive in a database (the PostgreSQL store) instead of dir

    @property
    def templates(self) -> TemplateDirs:
        """The base templates shipped in the package, with `templates_dir` adding and overriding by name."""
        return TemplateDirs(BASE_TEMPLATES, self.templates_dir)


def find_config(explicit: str | None) -> Path | None:
    """The config file to use: --config, then $EDIGW_CONFIG, then ./gateway.toml if present."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"{explicit}: no such config file")
        return path
    from_env = os.environ.get("EDIGW_CONFIG")
    if from_env:
        return find_config(from_env)
    for name in DEFAULT_CONFIG_NAMES:
        if Path(name).is_file():
            return Path(name)
    return None


def load_settings(explicit: str | None = None) -> Settings:
    path = find_config(explicit)
    data: dict[str, Any] = {}
    base = Path.cwd()
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{path}: {error}") from None
        base = path.resolve().parent
    return settings_from(data, base, path)


def settings_from(data: dict[str, Any], base: Path, path: Path | None = None) -> Settings:
    where = str(path) if path else "defaults"

    def section(name: str) -> dict[str, Any]:
        value = data.get(name, {})
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: [{name}] must be a table")
        return value

    def resolve(value: str | None, default: Path) -> Path:
        return (base / value).resolve() if value else default

    state_dir = resolve(data.get("state_dir"), (base / "state").resolve())
    store = section("store")
    archive = section("archive")
    odoo = section("odoo")
    http = section("http")
    log = section("log")
    limits = section("limits")
    processing = section("processing")
    store_url = store.get("url") or f"sqlite:///{state_dir / 'edigw.db'}"
    templates_default = BASE_TEMPLATES
    partners_default = EXAMPLE_PARTNERS
    settings = Settings(
        config_file=path,
        state_dir=state_dir,
        store_url=store_url,
        archive_dir=resolve(archive.get("dir"), state_dir / "archive"),
        archive_url=_archive_url(archive, store_url, where),
        partners_dir=resolve(data.get("partners_dir"), partners_default),
        templates_dir=resolve(data.get("templates_dir"), templates_default),
        max_file_size=int(limits.get("max_file_size", 256 * 1024 * 1024)),
        file_seconds=float(limits.get("file_seconds", 120.0)),
        rescan_seconds=float(data.get("rescan_seconds", 30.0)),
        workers=_workers(processing, where),
        delivery_attempts=int(data.get("delivery_attempts", 48)),
        log_format=str(log.get("format", "text")),
        log_level=str(log.get("level", "INFO")).upper(),
        odoo=OdooSettings(
            url=odoo.get("url"),
            db=odoo.get("db"),
            user=odoo.get("user"),
            password_file=resolve(odoo.get("password_file"), None) if odoo.get("password_file") else None,
            password_env=odoo.get("password_env"),
            timeout=float(odoo.get("timeout", 30.0)),
            api=str(odoo.get("api", "jsonrpc")),
            api_key_file=resolve(odoo.get("api_key_file"), None) if odoo.get("api_key_file") else None,
            api_key_env=odoo.get("api_key_env"),
        ),
        http=HttpSettings(host=http.get("host", "127.0.0.1"), port=http.get("port"),
                          trusted_user_header=http.get("trusted_user_header") or None,
                          secure_cookies=bool(http.get("secure_cookies", False))),
        identity=_identity(section("identity"), where),
    )
    retention = section("retention")
    if retention:
        from dataclasses import replace

        unknown = set(retention) - {"days"}
        if unknown or not isinstance(retention.get("days"), (int, float)) or retention["days"] <= 0:
            raise ConfigError(f"{where}: [retention] takes days = N (a positive number of days)")
        settings = replace(settings, retention_days=float(retention["days"]))
    if section("alerts"):
        from dataclasses import replace

        from gateway.alerts import alert_settings  # only read when there is an [alerts] section

        try:
            settings = replace(settings, alerts=alert_settings(section("alerts"), where))
        except (ValueError, TypeError) as error:
            raise ConfigError(str(error)) from None
    if settings.log_format not in ("text", "json"):
        raise ConfigError(f"{where}: [log] format must be 'text' or 'json', not {settings.log_format!r}")
    if "password" in odoo:
        raise ConfigError(
            f"{where}: [odoo] password must not be written in the config; use password_file or password_env"
        )
    if "api_key" in odoo:
        raise ConfigError(
            f"{where}: [odoo] api_key must not be written in the config; use api_key_file or api_key_env"
        )
    if settings.odoo.api not in ("jsonrpc", "json2"):
        raise ConfigError(f"{where}: [odoo] api must be 'jsonrpc' or 'json2', not {settings.odoo.api!r}")
    if settings.odoo.api == "json2" and not (settings.odoo.api_key_file or settings.odoo.api_key_env):
        raise ConfigError(f'{where}: [odoo] api = "json2" needs api_key_file or api_key_env (an Odoo API key)')
    return settings


def _workers(processing: dict[str, Any], where: str) -> int:
    """`[processing] workers`: how many partners' files the daemon processes at the same time."""
    unknown = set(processing) - {"workers"}
    workers = processing.get("workers", 2)
    if unknown or isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"{where}: [processing] takes workers = N (a whole number, 1 or more; default 2)")
    return workers


def _identity(data: dict[str, Any], where: str) -> Identity:
    found: dict[str, dict[str, str]] = {}
    for standard, ids in data.items():
        if standard not in IDENTITY_KEYS or not isinstance(ids, dict):
            raise ConfigError(f"{where}: [identity.{standard}] is not known; use [identity.edifact] (id, qualifier) "
                              "or [identity.x12] (qualifier, id, gs_id)")
        unknown = set(ids) - IDENTITY_KEYS[standard]
        if unknown:
            raise ConfigError(f"{where}: [identity.{standard}] has unknown key(s) {', '.join(sorted(unknown))}")
        found[standard] = {key: str(value) for key, value in ids.items()}
    return Identity(edifact=found.get("edifact", {}), x12=found.get("x12", {}))


def _archive_url(archive: dict[str, Any], store_url: str, where: str) -> str | None:
    """`[archive] url`: a database URL, or "store" for the store's own; None keeps the folder (`dir`)."""
    url = archive.get("url")
    if url is None:
        return None
    if not isinstance(url, str) or not url:
        raise ConfigError(f"{where}: [archive] url must be a database URL, or \"store\" for the store's own")
    if archive.get("dir"):
        raise ConfigError(f"{where}: [archive] takes dir (a folder) or url (a database), not both")
    return store_url if url == "store" else url
