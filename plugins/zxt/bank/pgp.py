"""OpenPGP for bank files: encrypt to the bank's pinned key, sign with ours (python-gnupg over ``gpg``).

Fingerprints are pinned in ``<gnupg>/pinned.json`` ({"sender": fpr, "banks": {code: fpr}}). We
encrypt only to the exact pinned fingerprint and refuse when the keyring disagrees with the pin.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import gnupg

from zxt.core.settings import Settings

SENDER_NAME = "ZXT sender"
SENDER_EMAIL = "zxt@localhost"
PINS_FILE = "pinned.json"
# gpg-agent puts its sockets in the homedir when /run/user/<uid> is missing (typical for root in a
# container); sun_path is 108 bytes, and the longest socket name is "S.gpg-agent.browser".
_MAX_SOCKET_PATH = 100
_LONGEST_SOCKET = "S.gpg-agent.browser"
_SHORT_BASE = Path("/tmp")


class GpgError(RuntimeError):
    """gpg failed, or its result is not what we asked for."""


class KeyPinError(GpgError):
    """The keyring does not hold exactly the pinned key."""


def bank_identity(bank_code: str) -> tuple[str, str]:
    return f"bank {bank_code}", f"bank-{bank_code.lower()}@localhost"


def normalise(fpr: str) -> str:
    return fpr.replace(" ", "").upper()


def _ensure_home(settings: Settings) -> Path:
    home = settings.paths.gnupg
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    # gpg warns about (and agents may refuse) a group/world-accessible homedir.
    os.chmod(home, 0o700)
    return home


def _short_home(home: Path) -> str:
    """A path to ``home`` short enough for the agent's sockets (a private symlink if needed)."""
    if len(str(home / _LONGEST_SOCKET)) <= _MAX_SOCKET_PATH:
        return str(home)
    uid = os.getuid()
    base = _SHORT_BASE / f"zxt-gnupg-{uid}"
    with suppress(FileExistsError):
        base.mkdir(mode=0o700)
    # /tmp is shared: only use a directory that is really ours and private.
    st = os.lstat(base)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid or st.st_mode & 0o077:
        raise GpgError(f"{base} is not a private directory owned by uid {uid}")
    # Aliases of deleted homedirs (e.g. pytest tmp dirs) are dead weight.
    for stale in base.iterdir():
        if stale.is_symlink() and not stale.exists():
            with suppress(FileNotFoundError):
                stale.unlink()
    real = home.resolve()
    link = base / hashlib.sha256(str(real).encode()).hexdigest()[:16]
    if not (link.is_symlink() and Path(os.readlink(link)) == real):
        tmp = base / f".{link.name}.{os.getpid()}"
        if tmp.is_symlink():
            tmp.unlink()
        os.symlink(real, tmp)
        os.replace(tmp, link)
    return str(link)


def gpg_for(settings: Settings) -> gnupg.GPG:
    home = _short_home(_ensure_home(settings))
    # No keyserver traffic, ever: keys arrive only through pinned imports.
    return gnupg.GPG(gnupghome=home, options=["--no-auto-key-retrieve", "--no-auto-key-locate"])


@contextmanager
def keyring_lock(settings: Settings) -> Iterator[None]:
    # Two tasks creating demo keys at once would each make (and pin) their own.
    with open(_ensure_home(settings) / ".zxt-keys.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def pins_path(settings: Settings) -> Path:
    return settings.paths.gnupg / PINS_FILE


def load_pins(settings: Settings) -> dict[str, Any]:
    path = pins_path(settings)
    if not path.exists():
        raise KeyPinError(f"no pinned fingerprints at {path}")
    pins = json.loads(path.read_text(encoding="utf-8"))
    return {
        "sender": normalise(pins.get("sender", "")),
        "banks": {code: normalise(f) for code, f in (pins.get("banks") or {}).items()},
    }


def save_pins(settings: Settings, pins: dict[str, Any]) -> None:
    path = pins_path(settings)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(pins, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _pinned_bank_key(gpg: gnupg.GPG, pins: dict[str, Any], bank_code: str) -> str:
    fpr = pins["banks"].get(bank_code)
    if not fpr:
        raise KeyPinError(f"no pinned key for bank {bank_code}")
    _, email = bank_identity(bank_code)
    keys = gpg.list_keys()
    present = {normalise(k["fingerprint"]) for k in keys}
    if fpr not in present:
        raise KeyPinError(f"pinned key {fpr} for bank {bank_code} is not in the keyring")
    # Another key claiming the bank's identity means a rotation or a substitution: a human decides.
    others = sorted(
        normalise(k["fingerprint"])
        for k in keys
        if normalise(k["fingerprint"]) != fpr and any(f"<{email}>" in uid for uid in k["uids"])
    )
    if others:
        raise KeyPinError(f"keyring has key(s) {others} for bank {bank_code}, but {fpr} is pinned")
    return fpr


def encrypt_and_sign(settings: Settings, plaintext: bytes, bank_code: str) -> bytes:
    """Binary OpenPGP message encrypted to the bank's pinned key and signed by the pinned sender key."""
    gpg = gpg_for(settings)
    pins = load_pins(settings)
    recipient = _pinned_bank_key(gpg, pins, bank_code)
    sender = pins["sender"]
    if sender not in {normalise(k["fingerprint"]) for k in gpg.list_keys(secret=True)}:
        raise KeyPinError(f"pinned sender key {sender} has no secret key in the keyring")
    # trust-model always is safe here: the single recipient is the exact, pinned fingerprint.
    result = gpg.encrypt(
        plaintext,
        [recipient],
        sign=sender,
        always_trust=True,
        armor=False,
        extra_args=["--no-encrypt-to"],
    )
    if not result.ok or not result.data:
        raise GpgError(f"encryption for bank {bank_code} failed: {result.status}: {result.stderr}")
    return bytes(result.data)


def decrypt_and_verify(
    settings: Settings, ciphertext: bytes, *, expected_signer: str | None = None
) -> tuple[bytes, str]:
    """Decrypt and check the signature; returns (plaintext, signer's primary-key fingerprint).

    Raises GpgError when the message is not signed, the signature is bad, or (if given) the signer
    is not ``expected_signer``.
    """
    gpg = gpg_for(settings)
    result = gpg.decrypt(ciphertext)
    if not result.ok:
        raise GpgError(f"decryption failed: {result.status}: {result.stderr}")
    signer = normalise(result.pubkey_fingerprint or result.fingerprint or "")
    if not result.valid or not signer:
        raise GpgError(f"message has no valid signature ({result.status})")
    if expected_signer is not None and signer != normalise(expected_signer):
        raise GpgError(f"signed by {signer}, expected {normalise(expected_signer)}")
    return bytes(result.data), signer


def shutdown_agent(settings: Settings) -> None:
    """Stop the gpg-agent serving this homedir (tests create many; agents outlive their caller)."""
    gpgconf = shutil.which("gpgconf")
    if gpgconf and settings.paths.gnupg.exists():
        subprocess.run(
            [gpgconf, "--homedir", _short_home(settings.paths.gnupg), "--kill", "all"],
            check=False,
            capture_output=True,
            timeout=30,
        )
