"""Throwaway OpenPGP keys for the demo and tests: our sender key and one key per bank, pinned.

A real bank's public key is imported and pinned from the bank (see docs/operations.md).
"""

from __future__ import annotations

from typing import Any

import gnupg

from zxt.bank import pgp
from zxt.core.settings import Settings


def _generate(gpg: gnupg.GPG, name: str, email: str) -> str:
    # EdDSA + cv25519: generated instantly, no wait for entropy; %no-protection as they are throwaway.
    spec = gpg.gen_key_input(
        key_type="EDDSA",
        key_curve="ed25519",
        key_usage="sign",
        subkey_type="ECDH",
        subkey_curve="cv25519",
        subkey_usage="encrypt",
        name_real=name,
        name_email=email,
        expire_date=0,
        no_protection=True,
    )
    result = gpg.gen_key(spec)
    if not result.fingerprint:
        raise pgp.GpgError(f"key generation for {email} failed: {result.stderr}")
    return pgp.normalise(result.fingerprint)


def ensure_demo_keys(settings: Settings, bank_codes: list[str]) -> dict[str, Any]:
    """Create throwaway sender and bank keys (once) and pin their fingerprints; returns the pins.

    Only for the demo and tests: a real bank's public key is imported and pinned from the bank.
    """
    with pgp.keyring_lock(settings):
        gpg = pgp.gpg_for(settings)
        try:
            pins = pgp.load_pins(settings)
        except pgp.KeyPinError:
            pins = {"sender": "", "banks": {}}
        secret = {pgp.normalise(k["fingerprint"]) for k in gpg.list_keys(secret=True)}
        public = {pgp.normalise(k["fingerprint"]) for k in gpg.list_keys()}
        if pins["sender"] not in secret:
            pins["sender"] = _generate(gpg, pgp.SENDER_NAME, pgp.SENDER_EMAIL)
        for code in bank_codes:
            if pins["banks"].get(code) not in public:
                pins["banks"][code] = _generate(gpg, *pgp.bank_identity(code))
        pgp.save_pins(settings, pins)
        return pins
