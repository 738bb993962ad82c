"""Loopback SFTP server that stands in for the banks' inboxes (demo and tests).

Layout under ``settings.paths.sftp_dir``::

    ssh_host_ed25519_key   host key, generated once; clients pin it via ``settings.paths.known_hosts``
    users.json             {bank_code: {"password": <scrypt hash>, "authorized_keys": [...]}}
    root/<bank_code>/      the inbox; user ``bank_<code>`` is chrooted here
    audit.jsonl            one line per rename/remove, in the order the server applied them

Run standalone with ``python -m zxt_sandbox.sftp_server --host 127.0.0.1 --port 18022``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import queue
import re
import secrets
import signal
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import asyncssh

from zxt.core.settings import Settings, get_settings

log = logging.getLogger(__name__)

USER_PREFIX = "bank_"
HOST_KEY_NAME = "ssh_host_ed25519_key"
# Codes become directory names and SSH user names: keep them boring.
_BANK_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


# --- files ---------------------------------------------------------------------------------------


def root_dir(settings: Settings) -> Path:
    return settings.paths.sftp_dir / "root"


def users_path(settings: Settings) -> Path:
    return settings.paths.sftp_dir / "users.json"


def host_key_path(settings: Settings) -> Path:
    return settings.paths.sftp_dir / HOST_KEY_NAME


def audit_path(settings: Settings) -> Path:
    return settings.paths.sftp_dir / "audit.jsonl"


def inbox_dir(settings: Settings, bank_code: str) -> Path:
    return root_dir(settings) / check_bank_code(bank_code)


def check_bank_code(bank_code: str) -> str:
    if not _BANK_CODE_RE.match(bank_code):
        raise ValueError(f"bank code {bank_code!r} must match {_BANK_CODE_RE.pattern}")
    return bank_code


def _write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    # tmp + replace so a reader never sees half a users.json / known_hosts.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(stored: str, password: str) -> bool:
    if not stored.startswith("scrypt$"):
        # Hand-written users.json files may hold a plain password (test fixtures only).
        return hmac.compare_digest(stored.encode(), password.encode())
    try:
        _, n, r, p, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except ValueError:
        return False
    return hmac.compare_digest(got, expected)


def load_users(settings: Settings) -> dict[str, dict]:
    path = users_path(settings)
    if not path.exists():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def ensure_host_key(settings: Settings) -> asyncssh.SSHKey:
    """Load the host key, generating it on first use (never regenerated: clients pin it)."""
    path = host_key_path(settings)
    if path.exists():
        return asyncssh.read_private_key(str(path))
    settings.paths.sftp_dir.mkdir(parents=True, exist_ok=True)
    key = asyncssh.generate_private_key("ssh-ed25519", comment="zxt-bank-sftp")
    _write_atomic(path, key.export_private_key(), 0o600)
    _write_atomic(path.with_name(path.name + ".pub"), key.export_public_key(), 0o644)
    return key


def ensure_server_files(
    settings: Settings,
    banks: Mapping[str, str],
    *,
    authorized_keys: Mapping[str, list[str]] | None = None,
) -> Path:
    """Create host key, inboxes and users.json for ``banks`` (bank_code -> password); idempotent.

    An existing user keeps its password hash when the password is unchanged, so re-running does not
    rewrite the file. ``authorized_keys`` (bank_code -> OpenSSH public key lines) replaces that bank's
    keys when given. Returns the users.json path.
    """
    ensure_host_key(settings)
    root = root_dir(settings)
    root.mkdir(parents=True, exist_ok=True)
    users = load_users(settings)
    changed = False
    for code in sorted(set(banks) | set(authorized_keys or {})):
        check_bank_code(code)
        (root / code).mkdir(mode=0o750, exist_ok=True)
        entry = users.setdefault(code, {})
        password = banks.get(code)
        if password is not None and not verify_password(entry.get("password", ""), password):
            entry["password"] = hash_password(password)
            changed = True
        if authorized_keys and code in authorized_keys:
            keys = [k.strip() for k in authorized_keys[code] if k.strip()]
            if entry.get("authorized_keys") != keys:
                entry["authorized_keys"] = keys
                changed = True
        entry.setdefault("authorized_keys", [])
    path = users_path(settings)
    if changed or not path.exists():
        _write_atomic(path, json.dumps(users, indent=2, sort_keys=True).encode() + b"\n", 0o600)
    return path


def known_hosts_line(host_key: asyncssh.SSHKey, host: str, port: int) -> str:
    pattern = host if port == 22 else f"[{host}]:{port}"
    algo, b64 = host_key.export_public_key("openssh").decode().split()[:2]
    return f"{pattern} {algo} {b64}"


def write_known_hosts(settings: Settings, host: str, port: int) -> Path:
    """Pin our host key for host:port in settings.paths.known_hosts, keeping other hosts' lines."""
    key = ensure_host_key(settings)
    # A wildcard bind is reached through loopback.
    hosts = ["127.0.0.1"] if host in ("", "0.0.0.0", "::") else [host]
    new = [known_hosts_line(key, h, port) for h in hosts]
    patterns = {line.split()[0] for line in new}
    path = settings.paths.known_hosts
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    kept = [line for line in old if line.strip() and line.split()[0] not in patterns]
    _write_atomic(path, ("\n".join([*kept, *new]) + "\n").encode(), 0o644)
    return path


# --- SSH / SFTP --------------------------------------------------------------------------------


def _bank_of(username: str) -> str | None:
    if not username.startswith(USER_PREFIX):
        return None
    code = username[len(USER_PREFIX) :]
    return code if _BANK_CODE_RE.match(code) else None


class _BankSSHServer(asyncssh.SSHServer):
    """Authenticates ``bank_<code>`` against users.json, re-read per connection (no restart needed)."""

    def __init__(self, settings: Settings, conns: set[asyncssh.SSHServerConnection]):
        self._settings = settings
        self._conns = conns
        self._conn: asyncssh.SSHServerConnection | None = None
        self._entry: dict = {}

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._conns.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._conns.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        code = _bank_of(username)
        self._entry = load_users(self._settings).get(code, {}) if code else {}
        keys = self._entry.get("authorized_keys") or []
        if keys and self._conn is not None:
            self._conn.set_authorized_keys(asyncssh.import_authorized_keys("\n".join(keys) + "\n"))
        return True  # always require auth; unknown users simply never succeed

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        stored = self._entry.get("password")
        return bool(stored) and verify_password(stored, password)

    def public_key_auth_supported(self) -> bool:
        return True


class BankSFTPServer(asyncssh.SFTPServer):
    """Per-bank chrooted SFTP session with no-clobber RENAME and an audit trail."""

    def __init__(self, chan: asyncssh.SSHServerChannel, settings: Settings):
        username = chan.get_extra_info("username") or ""
        code = _bank_of(username)
        if code is None:  # cannot happen after auth, but never fall back to an unchrooted server
            raise asyncssh.SFTPPermissionDenied("not a bank user")
        inbox = inbox_dir(settings, code)
        inbox.mkdir(parents=True, exist_ok=True)
        super().__init__(chan, chroot=str(inbox).encode())
        self._user = username
        self._audit = audit_path(settings)

    def _log(self, op: str, **paths: bytes) -> None:
        rec = {"ts_ns": time.time_ns(), "user": self._user, "op": op}
        rec.update({k: v.decode("utf-8", "replace") for k, v in paths.items()})
        with open(self._audit, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")

    def rename(self, oldpath: bytes, newpath: bytes) -> None:
        # SFTP v3 RENAME must not replace an existing target. link()+unlink() makes the check and the
        # move one atomic step for files (as OpenSSH's sftp-server does); exists()+rename() would race.
        src = self.map_path(oldpath)
        dst = self.map_path(newpath)
        if os.path.isfile(src) and not os.path.islink(src):
            try:
                os.link(src, dst)
            except FileExistsError:
                raise asyncssh.SFTPFileAlreadyExists("File already exists") from None
            os.unlink(src)
        else:
            if os.path.lexists(dst):
                raise asyncssh.SFTPFileAlreadyExists("File already exists")
            os.rename(src, dst)
        self._log("rename", src=oldpath, dst=newpath)

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        super().posix_rename(oldpath, newpath)
        self._log("posix_rename", src=oldpath, dst=newpath)

    def remove(self, path: bytes) -> None:
        super().remove(path)
        self._log("remove", path=path)

    # An inbox needs no links; refusing them keeps the virtual chroot tight.
    def symlink(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPOpUnsupported("symlinks are not allowed")

    def link(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPOpUnsupported("hard links are not allowed")


async def _start(
    settings: Settings, host: str, port: int
) -> tuple[asyncssh.SSHAcceptor, set[asyncssh.SSHServerConnection]]:
    host_key = ensure_host_key(settings)
    root_dir(settings).mkdir(parents=True, exist_ok=True)
    conns: set[asyncssh.SSHServerConnection] = set()
    acceptor = await asyncssh.listen(
        host,
        port,
        server_host_keys=[host_key],
        server_factory=lambda: _BankSSHServer(settings, conns),
        sftp_factory=lambda chan: BankSFTPServer(chan, settings),
        allow_scp=False,
        config=[],  # never pick up a system sshd-style config
    )
    bound = acceptor.get_port()
    write_known_hosts(settings, host, bound)
    log.info("bank SFTP listening on %s:%d (root %s)", host, bound, root_dir(settings))
    return acceptor, conns


async def start_server(settings: Settings, host: str, port: int) -> asyncssh.SSHAcceptor:
    """Listen on host:port (0 = any free port) and pin the host key in settings.paths.known_hosts.

    ``acceptor.get_port()`` gives the bound port. As with asyncssh, ``close()`` stops accepting but
    leaves open connections running; ``serve_in_thread`` also closes those on stop.
    """
    acceptor, _ = await _start(settings, host, port)
    return acceptor


class ServerHandle:
    """A server running on its own event loop in a daemon thread."""

    def __init__(
        self,
        host: str,
        port: int,
        loop: asyncio.AbstractEventLoop,
        stop_event: asyncio.Event,
        thread: threading.Thread,
    ):
        self.host = host
        self.port = port
        self._loop = loop
        self._stop_event = stop_event
        self._thread = thread

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop_event.set)
            self._thread.join(timeout)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _serve_until(
    settings: Settings, host: str, port: int, stop: asyncio.Event, on_ready: queue.Queue | None = None
) -> None:
    try:
        acceptor, conns = await _start(settings, host, port)
    except BaseException as exc:
        if on_ready is None:
            raise
        on_ready.put(exc)
        return
    if on_ready is not None:
        on_ready.put(acceptor.get_port())
    try:
        await stop.wait()
    finally:
        acceptor.close()
        for conn in list(conns):
            conn.close()
        await acceptor.wait_closed()
        for conn in list(conns):
            await conn.wait_closed()


def serve_in_thread(settings: Settings, host: str = "127.0.0.1", port: int = 0) -> ServerHandle:
    """Start the server in a daemon thread; returns once it is listening (with the real port)."""
    ready: queue.Queue = queue.Queue()
    loop = asyncio.new_event_loop()
    stop_event: asyncio.Event | None = None

    def run() -> None:
        nonlocal stop_event
        asyncio.set_event_loop(loop)
        stop_event = asyncio.Event()
        try:
            loop.run_until_complete(_serve_until(settings, host, port, stop_event, ready))
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=run, name=f"zxt-sftp-{host}:{port}", daemon=True)
    thread.start()
    result = ready.get(timeout=30)
    if isinstance(result, BaseException):
        thread.join(5)
        raise result
    assert stop_event is not None
    return ServerHandle(host, int(result), loop, stop_event, thread)


def main(argv: list[str] | None = None) -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(description="Loopback SFTP server for the banks' inboxes.")
    parser.add_argument("--host", default=settings.bank.sftp_host)
    parser.add_argument("--port", type=int, default=settings.bank.sftp_port)
    parser.add_argument(
        "--bank", action="append", default=[], metavar="CODE=PASSWORD", help="create/update a bank user"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    banks = dict(item.split("=", 1) for item in args.bank)
    ensure_server_files(settings, banks)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await _serve_until(settings, args.host, args.port, stop)
        log.info("bank SFTP server stopped")

    asyncio.run(run())


if __name__ == "__main__":
    main()
