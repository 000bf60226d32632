"""Serving the web app with waitress in a background thread, on a port of its own or a free one."""

from __future__ import annotations

import threading

import flask
from waitress.server import create_server


class WebServer:
    """`start(app, host, port)` serves in a daemon thread (port 0: a free port, then read `port`); `stop()` ends it."""

    def __init__(self) -> None:
        self._server = None
        self._thread: threading.Thread | None = None
        self.host: str | None = None
        self.port: int | None = None

    def start(self, app: flask.Flask, host: str = "127.0.0.1", port: int = 8080) -> None:
        self._server = create_server(app, host=host, port=port, threads=4, ident="edigw")
        self.host, self.port = host, self._server.effective_port
        self._thread = threading.Thread(target=self._server.run, name="edigw-web", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._thread.join(timeout=10)
            self._server = self._thread = None
