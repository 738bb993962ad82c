"""Deliver files into a bank's SFTP inbox: upload as ``*.tmp``, rename, ``.ok`` marker last.

Callers are synchronous Airflow tasks, so the public functions wrap asyncssh with ``asyncio.run``.
The server's host key is pinned through ``settings.paths.known_hosts``; an unknown or changed key fails
with ``asyncssh.HostKeyNotVerifiable`` (never auto-accepted).

Final names are created with plain SFTP RENAME, not posix-rename: RENAME refuses an existing target
atomically on the server (asyncssh and OpenSSH both use link+unlink), which is exactly the "an
acknowledged file is never overwritten" rule; posix-rename would silently replace it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import posixpath
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import asyncssh

from zxt.core.settings import Settings

# asyncssh logs every connection step at INFO (peer addresses, bank login names): keep task logs to
# what we say ourselves.
logging.getLogger("asyncssh").setLevel(logging.WARNING)

TMP_SUFFIX = ".tmp"


def _username(bank_code: str) -> str:
    return f"bank_{bank_code}"


def _check_name(name: str) -> str:
    # Names land in the inbox root; anything path-like or hidden is a caller bug.
    if not name or name != posixpath.basename(name) or name.startswith(".") or "\\" in name:
        raise ValueError(f"invalid remote file name {name!r}")
    if name.endswith(TMP_SUFFIX):
        raise ValueError(f"{name!r}: the {TMP_SUFFIX} suffix is reserved for uploads in progress")
    return name


@asynccontextmanager
async def _sftp(
    settings: Settings, bank_code: str, password: str | None, client_key: Path | None = None
) -> AsyncIterator[asyncssh.SFTPClient]:
    known_hosts = settings.paths.known_hosts
    if not known_hosts.is_file():
        # asyncssh would treat a missing file as "no known hosts"; say what is actually wrong.
        raise FileNotFoundError(f"pinned host key file {known_hosts} is missing")
    async with (
        asyncssh.connect(
            settings.bank.sftp_host,
            settings.bank.sftp_port,
            username=_username(bank_code),
            password=password or None,
            client_keys=[str(client_key)] if client_key else None,
            known_hosts=str(known_hosts),
            # Only the pinned key and the credentials given here: no ~/.ssh config, keys or agent
            # (this may run as root, whose ~/.ssh is not ours to use).
            config=[],
            agent_path=None,
            agent_forwarding=False,
            x509_trusted_certs=None,
            connect_timeout=30,
            login_timeout=30,
        ) as conn,
        conn.start_sftp_client() as sftp,
    ):
        yield sftp


async def _put_then_rename(sftp: asyncssh.SFTPClient, name: str, content: bytes) -> dict:
    tmp = name + TMP_SUFFIX
    async with sftp.open(tmp, "wb") as fh:
        await fh.write(content)
        # A server without fsync@openssh.com still gets the size check below.
        with suppress(asyncssh.SFTPOpUnsupported):
            await fh.fsync()
    size = (await sftp.stat(tmp)).size
    if size != len(content):
        raise OSError(f"{tmp}: server has {size} bytes, sent {len(content)}")
    try:
        await sftp.rename(tmp, name)
    except asyncssh.SFTPError:
        if await sftp.exists(name):
            await sftp.remove(tmp)
            raise FileExistsError(f"{name} already exists in the bank inbox; refusing to overwrite") from None
        raise
    return {"name": name, "bytes": len(content), "sha256": hashlib.sha256(content).hexdigest()}


async def _deliver(
    settings: Settings,
    bank_code: str,
    password: str,
    files: list[tuple[str, bytes]],
    marker_name: str,
    client_key: Path | None,
) -> list[dict]:
    names = [_check_name(n) for n, _ in files] + [_check_name(marker_name)]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate names in delivery: {names}")
    async with _sftp(settings, bank_code, password, client_key) as sftp:
        # Check everything up front so a re-run fails before it uploads anything.
        for name in names:
            if await sftp.exists(name):
                raise FileExistsError(f"{name} already exists in the bank inbox; refusing to overwrite")
        delivered = [await _put_then_rename(sftp, name, content) for name, content in files]
        # The marker goes last: the bank only reads stems that have one.
        delivered.append(await _put_then_rename(sftp, marker_name, b""))
        return delivered


def deliver_files(
    settings: Settings,
    bank_code: str,
    password: str,
    files: list[tuple[str, bytes]],
    marker_name: str,
    *,
    client_key: Path | None = None,
) -> list[dict]:
    """Upload ``files`` in order (data first, then manifest), then the empty ``marker_name``.

    Each file is written as ``<name>.tmp`` and renamed into place. An existing final name (file or
    marker) raises FileExistsError and is left untouched. Returns ``{"name", "bytes", "sha256"}``
    per file, marker last.
    """
    return asyncio.run(_deliver(settings, bank_code, password, files, marker_name, client_key))


async def _list(settings: Settings, bank_code: str, password: str, client_key: Path | None) -> list[str]:
    async with _sftp(settings, bank_code, password, client_key) as sftp:
        return sorted(n for n in await sftp.listdir(".") if n not in (".", ".."))


def list_inbox(
    settings: Settings, bank_code: str, password: str, *, client_key: Path | None = None
) -> list[str]:
    """Names in the bank's inbox root, sorted."""
    return asyncio.run(_list(settings, bank_code, password, client_key))


async def _read(
    settings: Settings, bank_code: str, password: str, name: str, client_key: Path | None
) -> bytes:
    async with _sftp(settings, bank_code, password, client_key) as sftp, sftp.open(name, "rb") as fh:
        return await fh.read()


def read_file(
    settings: Settings, bank_code: str, password: str, name: str, *, client_key: Path | None = None
) -> bytes:
    """Contents of ``name`` as the bank user sees it."""
    return asyncio.run(_read(settings, bank_code, password, name, client_key))


async def _fetch(
    settings: Settings, bank_code: str, password: str, names: list[str], client_key: Path | None
) -> dict[str, bytes | None]:
    out: dict[str, bytes | None] = {}
    async with _sftp(settings, bank_code, password, client_key) as sftp:
        for name in names:
            try:
                async with sftp.open(_check_name(name), "rb") as fh:
                    out[name] = await fh.read()
            except asyncssh.SFTPNoSuchFile:
                out[name] = None
    return out


def fetch(
    settings: Settings, bank_code: str, password: str, names: list[str], *, client_key: Path | None = None
) -> dict[str, bytes | None]:
    """What the inbox holds under each of ``names`` (None when absent), in one session."""
    return asyncio.run(_fetch(settings, bank_code, password, names, client_key))


async def _put(
    settings: Settings, bank_code: str, password: str, files: list[tuple[str, bytes]], client_key: Path | None
) -> list[dict]:
    async with _sftp(settings, bank_code, password, client_key) as sftp:
        return [await _put_then_rename(sftp, _check_name(name), content) for name, content in files]


def put_missing(
    settings: Settings,
    bank_code: str,
    password: str,
    files: list[tuple[str, bytes]],
    *,
    client_key: Path | None = None,
) -> list[dict]:
    """Upload ``files`` in order (each as ``*.tmp``, then renamed), for names the caller found absent.

    A leftover ``*.tmp`` of a crashed attempt is overwritten; a final name that appeared meanwhile
    raises FileExistsError and is left untouched.
    """
    return asyncio.run(_put(settings, bank_code, password, files, client_key))
