"""Keys, password hashes and signed cookie values, from the standard library alone."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

import msgspec

API_KEY_PREFIX = "kit_"
# scrypt cost: about 50 ms and 16 MiB per check on this hardware; slow for guessing, fine for a login.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def new_pairing_code() -> str:
    """Six digits: quick to type on a tablet; guessing is stopped by expiry, single use and throttling."""
    return f"{secrets.randbelow(1_000_000):06d}"


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    derived = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${derived.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    derived = hashlib.scrypt(
        password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected) // 2
    )
    return hmac.compare_digest(derived.hex(), expected)


class SessionValue(msgspec.Struct, frozen=True):
    kind: str  # "manager" or "tablet"
    id: int
    issued: int  # unix seconds


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(value: SessionValue, secret: str) -> str:
    payload = msgspec.json.encode(value)
    signature = hmac.new(secret.encode(), payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(signature)}"


def unsign(token: str, secret: str) -> SessionValue | None:
    """The value of a cookie we signed, or None for anything tampered with or malformed."""
    try:
        payload_text, signature_text = token.split(".", 1)
        payload = _unb64(payload_text)
        expected = hmac.new(secret.encode(), payload, hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(signature_text)):
            return None
        return msgspec.json.decode(payload, type=SessionValue)
    except (ValueError, msgspec.DecodeError):
        return None
