"""Serving the web application with waitress, in a daemon thread of the gateway's process."""

from __future__ import annotations

import threading

import flask
from waitress.server import create_server


class WebServer:
    """`start(app, host, port)` listens (port 0: any free port, then read `port`); `stop()` closes it."""

    def __init__(self) -> None:
        self._server = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    def start(self, app: flask.Flask, host: str, port: int) -> None:
        self._server = create_server(app, host=host, port=port, threads=4, ident="edigw")
        self.port = self._server.effective_port
        self._thread = threading.Thread(target=self._server.run, name="edigw web", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._thread.join(timeout=5)
            self._server = None
