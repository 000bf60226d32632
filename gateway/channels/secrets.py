"""Secrets by reference: a profile names a file or an environment variable, never the secret itself.

A `SecretRef` is what a profile holds (`password_file: /run/credentials/edigw/acme` or
`password_env: ACME_SFTP_PASSWORD`); `reveal()` reads the secret at the moment it is needed.
The reference may be printed, logged and stored; the value never is: errors say which
reference failed and why, never what was read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


class SecretUnavailable(Exception):
    """A referenced secret cannot be read; the message names the reference, not the value."""


@dataclass(frozen=True)
class SecretRef:
    """Where a secret is: a file (systemd credentials work: `$CREDENTIALS_DIRECTORY/name`) or a variable."""

    file: Path | None = None
    env: str | None = None

    def __post_init__(self) -> None:
        if (self.file is None) == (self.env is None):
            raise ValueError("a secret reference names exactly one of a file or an environment variable")

    def __str__(self) -> str:
        return f"file {self.file}" if self.file is not None else f"environment variable {self.env}"

    def reveal(self) -> str:
        """The secret, read now; one trailing newline (as editors and `echo` leave it) is dropped."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise SecretUnavailable(f"environment variable {self.env} is not set")
            return value
        assert self.file is not None
        path = Path(os.path.expandvars(str(self.file))).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SecretUnavailable(f"secret file {path} does not exist") from None
        except PermissionError:
            raise SecretUnavailable(f"secret file {path} cannot be read by this user (permission denied)") from None
        except UnicodeDecodeError:
            raise SecretUnavailable(f"secret file {path} is not UTF-8 text") from None
        except OSError as error:
            raise SecretUnavailable(f"secret file {path} cannot be read: {error.strerror}") from None
        return text[:-1] if text.endswith("\n") else text
