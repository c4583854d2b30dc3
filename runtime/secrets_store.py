"""Secrets kept in the gateway's data directory (GATEWAY_HOME): the generated SECRET_KEY, the
field-encryption keys, and credentials that are shown once.

Standard library only: settings.py imports this before Django is configured. Every file is
created with mode 0600 and appears complete or not at all (written privately, then linked or
renamed into place), so processes starting at once (web, worker, beat, a manage.py command)
agree on one value and never read half of one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from runtime import resets

SECRET_KEY_FILE = "secret_key"
ENCRYPTION_KEYS_FILE = "field_encryption_keys"
CREDENTIALS_DIR = "credentials"
# How long a reader waits for a file another process has created but not yet filled; only the
# fallback path (filesystems without hard links) can show that state.
_FILL_WAIT = 5.0


class SecretStoreError(RuntimeError):
    pass


class Output(Protocol):
    """A text stream: sys.stdout, or a management command's OutputWrapper."""

    def write(self, msg: str) -> Any: ...

    def isatty(self) -> bool: ...


def new_key() -> str:
    """256 random bits, URL-safe text (used as key material: crypto.py derives the Fernet key)."""
    return secrets.token_urlsafe(32)


def secret_file_ensure(path: Path, *, make: Callable[[], str] = new_key) -> str:
    """The value stored in ``path``, created first with ``make()`` when the file does not exist.

    The value is written to a private temporary file which is then hard-linked to ``path``; the
    link fails when ``path`` exists, so of two processes creating it at once exactly one wins and
    both return the winner's value. Filesystems without hard links get O_CREAT|O_EXCL instead.
    """
    with contextlib.suppress(FileNotFoundError):
        return _read_filled(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    value = make()
    tmp = _private_copy(path.parent, value)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass  # another process created it first: its value wins
    except OSError:
        _create_exclusive(path, value)
    finally:
        os.unlink(tmp)
    return _read_filled(path)


def _private_copy(directory: Path, value: str) -> str:
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")  # mkstemp files are mode 0600
    with os.fdopen(fd, "w") as out:
        out.write(value.strip() + "\n")
        out.flush()
        os.fsync(out.fileno())
    return tmp


def _create_exclusive(path: Path, value: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as out:
        out.write(value.strip() + "\n")


def _read_filled(path: Path) -> str:
    """The stripped contents; waits (bounded) while the file is empty because its creator is
    still writing it (only possible on the O_EXCL fallback)."""
    deadline = time.monotonic() + _FILL_WAIT
    while True:
        text = path.read_text().strip()
        if text:
            return text
        if time.monotonic() > deadline:
            raise SecretStoreError(f"{path} is empty: delete it to generate a new value, or restore it")
        time.sleep(0.02)


def keys_parse(text: str, *, separator: str = ",") -> list[str]:
    """Key materials from a list (newest first); blank entries and surrounding spaces dropped."""
    return [part.strip() for part in text.replace("\n", separator).split(separator) if part.strip()]


_keys_cache: dict[Path, tuple[tuple[int, int, int], tuple[str, ...]]] = {}  # path -> (stat signature, keys)


@resets.register
def keys_cache_clear() -> None:
    _keys_cache.clear()


def keys_read(path: Path) -> tuple[str, ...]:
    """The keys in ``path`` (one a line, newest first), re-read only when the file changes, so a
    rotation by ``manage.py rotate_encryption_key`` reaches running processes without a restart."""
    try:
        st = path.stat()
    except OSError as exc:
        raise SecretStoreError(f"the field-encryption keys file {path} cannot be read: {exc}") from None
    signature = (st.st_ino, st.st_mtime_ns, st.st_size)
    cached = _keys_cache.get(path)
    if cached is not None and cached[0] == signature:
        return cached[1]
    keys = tuple(keys_parse(_read_filled(path), separator="\n"))
    _keys_cache[path] = (signature, keys)
    return keys


def keys_write(path: Path, keys: Sequence[str]) -> None:
    """Replace the keys file atomically (a reader sees the old list or the new one)."""
    if not keys:
        raise SecretStoreError("refusing to write an empty list of encryption keys")
    tmp = _private_copy(path.parent, "\n".join(keys))
    os.replace(tmp, path)


@contextlib.contextmanager
def keys_locked(path: Path) -> Iterator[None]:
    """Serialize read-modify-write of the keys file between rotations run at once."""
    fd = os.open(path.with_name(path.name + ".lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def loose_files(home: Path) -> list[Path]:
    """Secret files in ``home`` that someone other than their owner may read."""
    names = (SECRET_KEY_FILE, ENCRYPTION_KEYS_FILE)
    return [p for p in (home / n for n in names) if p.exists() and p.stat().st_mode & 0o077]


def credentials_emit(*, out: Output, home: Path, what: str, lines: Sequence[str]) -> Path | None:
    """Show credentials once: on ``out`` when it is a terminal; otherwise (a log, a pipe,
    ``docker compose logs``) in a new mode-0600 file under ``home``/credentials, whose path is
    written instead. Returns that path, or None when the lines went to the terminal."""
    if out.isatty():
        for line in lines:
            out.write(line + "\n")
        return None
    folder = home / CREDENTIALS_DIR
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = folder / f"{what}-{stamp}-{secrets.token_hex(3)}.txt"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("# Shown once. Keep these somewhere safe, then delete this file.\n")
        f.write("".join(line + "\n" for line in lines))
    out.write(f"Credentials (shown once) written to {path} (mode 0600), not here: this output is not a terminal\n")
    return path


def credentials_show(*, out: Output, what: str, lines: Sequence[str]) -> Path | None:
    """Show credentials once: on a terminal as they are; otherwise (a log file, a pipe, docker
    compose logs) in a mode-0600 file under GATEWAY_HOME/credentials whose path is shown.
    Returns that path, or None."""
    from django.conf import settings

    return credentials_emit(out=out, home=Path(settings.GATEWAY_HOME), what=what, lines=lines)
