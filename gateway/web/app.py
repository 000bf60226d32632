"""The Flask application served on the `[http]` port: health, metrics and the support console."""

from __future__ import annotations

import flask

from gateway.config import Settings
from gateway.runtime import Runtime


def create_app(settings: Settings, runtime: Runtime | None = None) -> flask.Flask:
    """The web application of one gateway; `runtime` is the running daemon's state (None for `edigw web`)."""
    from gateway.web import console, ops

    app = flask.Flask("gateway.web")
    app.config["EDIGW_SETTINGS"] = settings
    app.config["EDIGW_RUNTIME"] = runtime
    app.register_blueprint(ops.blueprint)
    console.install(app, settings)
    app.register_blueprint(console.blueprint)
    return app
