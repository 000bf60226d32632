"""The Flask application served on the daemon's `[http]` port, its blueprints registered here."""

from __future__ import annotations

import flask

from gateway.config import Settings
from gateway.runtime import Runtime


def create_app(settings: Settings, runtime: Runtime | None = None) -> flask.Flask:
    """The web application of one gateway; `runtime` is the running daemon's state (None outside it)."""
    from gateway.web import ops

    app = flask.Flask("gateway.web")
    app.config["EDIGW_SETTINGS"] = settings
    app.config["EDIGW_RUNTIME"] = runtime
    app.register_blueprint(ops.blueprint)
    return app
