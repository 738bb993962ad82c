"""Bank SFTP delivery against a real asyncssh server on 127.0.0.1 (no mocks)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from zxt.bank import sftp as bank_upload
from zxt.core.settings import Settings
from zxt_sandbox import sftp_server

pytestmark = pytest.mark.integration

BANKS = {"ABC": "abc-secret", "XYZ": "xyz-secret"}


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    base = Settings().with_(paths__home=tmp_path, paths__known_hosts_file=None, bank__sftp_host="127.0.0.1")
    sftp_server.ensure_server_files(base, BANKS)
    handle = sftp_server.serve_in_thread(base, "127.0.0.1", 0)
    try:
        yield base.with_(bank__sftp_port=handle.port)
    finally:
        handle.stop()


def _audit(settings: Settings) -> list[dict]:
    path = sftp_server.audit_path(settings)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _files(tag: str) -> tuple[list[tuple[str, bytes]], str]:
    stem = f"ZXT_ABC_credit_20250630_{tag}"
    data = b"\x00binary ciphertext stand-in\xff" * 1000
    manifest = json.dumps({"files": [f"{stem}.csv.gpg"], "rows": 3}).encode()
    return [(f"{stem}.csv.gpg", data), (f"{stem}.manifest.json", manifest)], f"{stem}.ok"


def test_delivery_order_names_and_hashes(settings: Settings) -> None:
    files, marker = _files("01")
    result = bank_upload.deliver_files(settings, "ABC", BANKS["ABC"], files, marker)

    expected_names = [name for name, _ in files] + [marker]
    assert [r["name"] for r in result] == expected_names
    assert bank_upload.list_inbox(settings, "ABC", BANKS["ABC"]) == sorted(expected_names)
    for (name, content), rec in zip([*files, (marker, b"")], result, strict=True):
        assert rec["bytes"] == len(content)
        assert rec["sha256"] == hashlib.sha256(content).hexdigest()
        got = bank_upload.read_file(settings, "ABC", BANKS["ABC"], name)
        assert hashlib.sha256(got).hexdigest() == rec["sha256"]
    assert not list(sftp_server.inbox_dir(settings, "ABC").glob("*.tmp"))

    # The server's own log of renames: every file went tmp -> final, in order, marker last.
    renames = [(e["src"], e["dst"]) for e in _audit(settings) if e["user"] == "bank_ABC"]
    assert renames == [(n + ".tmp", n) for n in expected_names]
    inbox = sftp_server.inbox_dir(settings, "ABC")
    mtimes = {n: (inbox / n).stat().st_mtime_ns for n in expected_names}
    assert mtimes[marker] == max(mtimes.values())


def test_redelivery_refused_original_untouched(settings: Settings) -> None:
    files, marker = _files("01")
    bank_upload.deliver_files(settings, "ABC", BANKS["ABC"], files, marker)
    inbox = sftp_server.inbox_dir(settings, "ABC")
    before = {p.name: p.read_bytes() for p in inbox.iterdir()}
    renames_before = len(_audit(settings))

    with pytest.raises(FileExistsError, match=files[0][0]):
        bank_upload.deliver_files(settings, "ABC", BANKS["ABC"], [(files[0][0], b"other")], marker + "2")

    assert {p.name: p.read_bytes() for p in inbox.iterdir()} == before
    assert len(_audit(settings)) == renames_before


def test_server_rename_semantics(settings: Settings) -> None:
    """Plain RENAME refuses an existing target (SFTP v3); posix-rename@openssh.com replaces it."""

    async def run() -> None:
        async with (
            asyncssh.connect(
                "127.0.0.1",
                settings.bank.sftp_port,
                username="bank_ABC",
                password=BANKS["ABC"],
                known_hosts=str(settings.paths.known_hosts),
                client_keys=None,
                agent_path=None,
                config=[],
            ) as conn,
            conn.start_sftp_client() as sftp,
        ):
            for name, body in (("a", b"A"), ("b", b"B"), ("c", b"C")):
                async with sftp.open(name, "wb") as fh:
                    await fh.write(body)
            with pytest.raises(asyncssh.SFTPError):
                await sftp.rename("a", "b")
            async with sftp.open("b", "rb") as fh:
                assert await fh.read() == b"B"
            await sftp.posix_rename("c", "b")
            async with sftp.open("b", "rb") as fh:
                assert await fh.read() == b"C"
            assert not await sftp.exists("c")
            with pytest.raises(asyncssh.SFTPError):
                await sftp.symlink("/etc/passwd", "evil")

    asyncio.run(run())


def test_chroot_isolates_banks(settings: Settings) -> None:
    files, marker = _files("01")
    bank_upload.deliver_files(settings, "XYZ", BANKS["XYZ"], files, marker)

    # ABC's root is its own inbox: XYZ's files are not reachable by any path.
    assert bank_upload.list_inbox(settings, "ABC", BANKS["ABC"]) == []
    for path in (f"../XYZ/{files[0][0]}", f"/../XYZ/{files[0][0]}", f"/XYZ/{files[0][0]}"):
        with pytest.raises(asyncssh.SFTPNoSuchFile):
            bank_upload.read_file(settings, "ABC", BANKS["ABC"], path)


def test_wrong_password_and_unknown_user_refused(settings: Settings) -> None:
    with pytest.raises(asyncssh.PermissionDenied):
        bank_upload.list_inbox(settings, "ABC", BANKS["XYZ"])
    with pytest.raises(asyncssh.PermissionDenied):
        bank_upload.list_inbox(settings, "NOPE", "whatever")


def test_authorized_key_login(settings: Settings, tmp_path: Path) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    key_path = tmp_path / "bank_abc_ed25519"
    key.write_private_key(str(key_path))
    sftp_server.ensure_server_files(settings, {}, authorized_keys={"ABC": [key.export_public_key().decode()]})
    files, marker = _files("02")
    bank_upload.deliver_files(settings, "ABC", "", files, marker, client_key=key_path)
    assert marker in bank_upload.list_inbox(settings, "ABC", "", client_key=key_path)
    # The password still works too: adding keys kept it.
    assert marker in bank_upload.list_inbox(settings, "ABC", BANKS["ABC"])


def test_ensure_server_files_idempotent(settings: Settings) -> None:
    path = sftp_server.users_path(settings)
    before = path.read_bytes()
    key_before = sftp_server.host_key_path(settings).read_bytes()
    sftp_server.ensure_server_files(settings, BANKS)
    assert path.read_bytes() == before
    assert sftp_server.host_key_path(settings).read_bytes() == key_before
    assert "abc-secret" not in before.decode()  # stored hashed
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_wrong_pinned_host_key_refused(settings: Settings, tmp_path: Path) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519")
    bad = tmp_path / "bad_known_hosts"
    bad.write_text(sftp_server.known_hosts_line(other, "127.0.0.1", settings.bank.sftp_port) + "\n")
    wrong = settings.with_(paths__known_hosts_file=bad)
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        bank_upload.list_inbox(wrong, "ABC", BANKS["ABC"])

    # No pin at all is refused too: nothing is ever auto-accepted.
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        bank_upload.list_inbox(settings.with_(paths__known_hosts_file=empty), "ABC", BANKS["ABC"])
    with pytest.raises(FileNotFoundError):
        bank_upload.list_inbox(
            settings.with_(paths__known_hosts_file=tmp_path / "missing"), "ABC", BANKS["ABC"]
        )
