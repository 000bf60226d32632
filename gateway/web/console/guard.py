"""Who is signed in, what their role lets them do, and the CSRF token every form carries.

The session is Flask's signed cookie (HttpOnly, SameSite=Lax), keyed by a secret kept in the
state directory (mode 0600, made at first start). A CSRF token of our own lives in that session
and goes into every form; a POST without it is refused before any view runs. Our own because it
is a dozen lines over the session we already have (Flask-WTF would bring WTForms for nothing else).
With `[http] trusted_user_header` set, a reverse proxy that signed the person in (SSO) names
them in that header; they still need a user here, which gives their role. Off by default.
"""

from __future__ import annotations

import hmac
import os
import secrets
from datetime import timedelta
from functools import wraps
from pathlib import Path

import flask

from gateway.web import users

SESSION_HOURS = 8


def secret_key(state_dir: Path) -> bytes:
    """The session key of this installation, made at first start, readable by the gateway's user only."""
    path = state_dir / "console-secret"
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it a moment ago
        else:
            with os.fdopen(descriptor, "w") as out:
                out.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def configure(app: flask.Flask, state_dir: Path, secure_cookies: bool) -> None:
    app.secret_key = secret_key(state_dir)
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=secure_cookies, SESSION_COOKIE_NAME="edigw_session",
                      PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS))


def csrf_token() -> str:
    token = flask.session.get("csrf")
    if token is None:
        token = flask.session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """Refuse (403) a POST whose form does not carry this session's token."""
    if flask.request.method != "POST":
        return
    sent, ours = flask.request.form.get("csrf_token", ""), flask.session.get("csrf")
    if not ours or not hmac.compare_digest(sent, ours):
        flask.abort(403, "this form has expired or did not come from the console: reload the page and try again")


def current(store, header: str | None) -> users.Account | None:
    """The signed-in account (looked up again on every request: a removed user is out at once)."""
    if header:
        name = flask.request.headers.get(header)
        if name:
            return users.account(store, name)
    name = flask.session.get("user")
    return users.account(store, name) if name else None


def requires(role: str):
    """A view for `role` and above; others get 403, strangers the sign-in page."""
    def decorate(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            account = flask.g.get("account")
            if account is None:
                return flask.redirect(flask.url_for("console.login", next=flask.request.full_path))
            if not account.may(role):
                flask.abort(403, f"this needs the {role} role; you are signed in as a {account.role}")
            return view(*args, **kwargs)
        return guarded
    return decorate
