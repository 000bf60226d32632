"""The Flask app the console and the HTTP endpoints share: settings and runtime in its config."""

from __future__ import annotations

from typing import Any

import flask

from gateway.config import Settings


def create_app(settings: Settings, runtime: Any = None) -> flask.Flask:
    """The web app for one gateway; `runtime` is the running daemon's state, if any (None for `edigw web`)."""
    from gateway.web import console

    app = flask.Flask("gateway.web")
    app.config["EDIGW_SETTINGS"] = settings
    app.config["EDIGW_RUNTIME"] = runtime
    console.install(app, settings)
    app.register_blueprint(console.blueprint)
    return app
