"""The console's users: names, roles and argon2 password hashes in the store; signing in with a limit.

Roles nest: a viewer reads; an operator also reprocesses, replays and resolves; an admin also
manages users and reads the partner profiles. After `FAILED_LIMIT` wrong passwords in a row an
account waits `LOCK_MINUTES` before it may try again (a good password does not shorten it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from gateway.store.db import Store
from gateway.store.models import User, utcnow

ROLES = ("viewer", "operator", "admin")
FAILED_LIMIT = 5
LOCK_MINUTES = 15
_hasher = PasswordHasher()


class UserError(Exception):
    """What could not be done with a user, in a sentence."""


@dataclass(frozen=True)
class Account:
    name: str
    role: str
    last_login_at: datetime | None = None

    def may(self, role: str) -> bool:
        """Whether this account has `role` or a higher one."""
        return ROLES.index(self.role) >= ROLES.index(role)


def _check(name: str, role: str | None, password: str | None) -> None:
    if not name or len(name) > 100 or not name.isprintable() or name.strip() != name:
        raise UserError(f"{name!r} is not a user name (1 to 100 printable characters, no spaces around)")
    if role is not None and role not in ROLES:
        raise UserError(f"no role {role!r}; one of {', '.join(ROLES)}")
    if password is not None and len(password) < 8:
        raise UserError("a password has at least 8 characters")


def add(store: Store, name: str, role: str, password: str) -> Account:
    _check(name, role, password)
    with store.session() as session:
        if session.scalar(select(User).where(User.name == name)):
            raise UserError(f"user {name} exists already (edigw users passwd {name} changes the password)")
        session.add(User(name=name, role=role, password_hash=_hasher.hash(password), failed_logins=0))
    return Account(name, role)


def set_password(store: Store, name: str, password: str) -> None:
    _check(name, None, password)
    with store.session() as session:
        user = _get(session, name)
        user.password_hash, user.failed_logins, user.locked_until = _hasher.hash(password), 0, None


def remove(store: Store, name: str) -> None:
    with store.session() as session:
        session.delete(_get(session, name))


def accounts(store: Store) -> list[Account]:
    with store.session() as session:
        return [Account(u.name, u.role, u.last_login_at) for u in session.scalars(select(User).order_by(User.name))]


def account(store: Store, name: str) -> Account | None:
    """The account signed in under `name` now (None once it was removed)."""
    with store.session() as session:
        user = session.scalar(select(User).where(User.name == name))
        return Account(user.name, user.role, user.last_login_at) if user else None


def _get(session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise UserError(f"no user {name}")
    return user


def sign_in(store: Store, name: str, password: str) -> Account:
    """The account if the password is right; else UserError saying only what a stranger may know."""
    refused = "wrong user name or password"
    with store.session() as session:  # a wrong password is counted: the session commits before we refuse
        user = session.scalar(select(User).where(User.name == name))
        now = utcnow()
        if user is None:
            _hasher.hash(password)  # the same work as for a real user: timing tells no names
        elif user.locked_until and user.locked_until > now:
            refused = f"too many wrong passwords: try again after {user.locked_until:%H:%M} UTC"
        elif not _verify(user.password_hash, password):
            user.failed_logins += 1
            if user.failed_logins >= FAILED_LIMIT:
                user.failed_logins, user.locked_until = 0, now + timedelta(minutes=LOCK_MINUTES)
        else:
            user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
            if _hasher.check_needs_rehash(user.password_hash):
                user.password_hash = _hasher.hash(password)
            return Account(user.name, user.role, now)
    raise UserError(refused)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
