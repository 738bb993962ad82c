"""OpenPGP encrypt/sign with pinned fingerprints, using the real gpg binary (no mocks)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from zxt.bank import pgp as gpg
from zxt.core.settings import Settings
from zxt_sandbox import bank_keys

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    s = Settings().with_(paths__home=tmp_path, paths__gnupg_dir=None)
    try:
        yield s
    finally:
        gpg.shutdown_agent(s)


def test_round_trip_signed_by_pinned_sender(settings: Settings) -> None:
    pins = bank_keys.ensure_demo_keys(settings, ["ABC", "XYZ"])
    plaintext = "企业,USCC,等级\n某公司,91420981MA4XXXXX0X,A\n".encode()

    ciphertext = gpg.encrypt_and_sign(settings, plaintext, "ABC")
    assert plaintext not in ciphertext
    assert not ciphertext.startswith(b"-----BEGIN")  # binary, not armored

    got, signer = gpg.decrypt_and_verify(settings, ciphertext, expected_signer=pins["sender"])
    assert got == plaintext
    assert signer == pins["sender"]
    assert json.loads(gpg.pins_path(settings).read_text()) == pins


def test_demo_keys_idempotent(settings: Settings) -> None:
    first = bank_keys.ensure_demo_keys(settings, ["ABC"])
    again = bank_keys.ensure_demo_keys(settings, ["ABC", "XYZ"])
    assert again["sender"] == first["sender"]
    assert again["banks"]["ABC"] == first["banks"]["ABC"]
    assert set(again["banks"]) == {"ABC", "XYZ"}
    assert oct(settings.paths.gnupg.stat().st_mode & 0o777) == "0o700"


def test_refuses_when_pin_does_not_match_keyring(settings: Settings) -> None:
    pins = bank_keys.ensure_demo_keys(settings, ["ABC", "XYZ"])

    # Pin points at a key the keyring does not have.
    tampered = {**pins, "banks": {**pins["banks"], "ABC": "0" * 40}}
    gpg.save_pins(settings, tampered)
    with pytest.raises(gpg.KeyPinError, match="not in the keyring"):
        gpg.encrypt_and_sign(settings, b"data", "ABC")

    # Pin points at a real key, but the keyring's key for that bank has another fingerprint.
    swapped = {**pins, "banks": {**pins["banks"], "ABC": pins["banks"]["XYZ"]}}
    gpg.save_pins(settings, swapped)
    with pytest.raises(gpg.KeyPinError, match="is pinned"):
        gpg.encrypt_and_sign(settings, b"data", "ABC")

    with pytest.raises(gpg.KeyPinError, match="no pinned key"):
        gpg.encrypt_and_sign(settings, b"data", "NOBANK")


def test_tampered_or_wrong_signer_rejected(settings: Settings) -> None:
    pins = bank_keys.ensure_demo_keys(settings, ["ABC"])
    ciphertext = gpg.encrypt_and_sign(settings, b"payload", "ABC")

    with pytest.raises(gpg.GpgError, match="expected"):
        gpg.decrypt_and_verify(settings, ciphertext, expected_signer=pins["banks"]["ABC"])

    broken = bytearray(ciphertext)
    broken[len(broken) // 2] ^= 0xFF
    with pytest.raises(gpg.GpgError):
        gpg.decrypt_and_verify(settings, bytes(broken))


def test_long_homedir_gets_short_socket_path(tmp_path: Path) -> None:
    # gpg-agent's socket would not fit in sun_path here without the short alias.
    s = Settings().with_(paths__home=tmp_path / ("d" * 120), paths__gnupg_dir=None)
    try:
        pins = bank_keys.ensure_demo_keys(s, ["ABC"])
        got, signer = gpg.decrypt_and_verify(s, gpg.encrypt_and_sign(s, b"x", "ABC"))
        assert (got, signer) == (b"x", pins["sender"])
    finally:
        gpg.shutdown_agent(s)
