"""Feishu event cryptography (contracts §3.4): AES-256-CBC with a random IV prefix, and the request signature.

::

    key       = sha256(encrypt_key)                                 # 32 bytes
    encrypt   = base64(iv16 ‖ AES-256-CBC(key, iv16, PKCS7(plaintext, block=16)))
    signature = sha256_hex(X-Lark-Request-Timestamp ‖ X-Lark-Request-Nonce ‖ encrypt_key ‖ raw body bytes)

Not WXBizMsgCrypt: the key is a hash (not base64), the IV travels in front of the ciphertext (not
``key[:16]``), there is no length prefix or receiver id, and the signature is a separate SHA-256 over the
raw body. It lives here rather than in :mod:`huiliu.crypto` because that package is not this
connector's to change; it belongs there next to ``MsgCrypt`` (contracts §10.1: one crypto module).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from huiliu.crypto import CryptoError

__all__ = ["FeishuCipher", "request_signature"]

_BLOCK = 16


def request_signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    """``X-Lark-Signature``: the SHA-256 hex digest of timestamp, nonce, Encrypt Key and the raw body."""
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode("utf-8") + body).hexdigest()


class FeishuCipher:
    """Encrypts and decrypts Feishu event bodies under one Encrypt Key.

    Args:
        encrypt_key: the subscription's Encrypt Key (any non-empty string; it is hashed into the AES key).
    """

    def __init__(self, encrypt_key: str) -> None:
        if not encrypt_key:
            raise ValueError("encrypt_key must not be empty")
        self._encrypt_key = encrypt_key
        self._key = hashlib.sha256(encrypt_key.encode("utf-8")).digest()

    def sign(self, timestamp: str, nonce: str, body: bytes) -> str:
        """The ``X-Lark-Signature`` of ``body`` under this key."""
        return request_signature(timestamp, nonce, self._encrypt_key, body)

    def verify(self, signature: str, timestamp: str, nonce: str, body: bytes) -> None:
        """Raise :class:`CryptoError` (``bad_signature``) unless ``signature`` matches, in constant time."""
        expected = self.sign(timestamp, nonce, body)
        if not hmac.compare_digest(expected.encode("ascii"), signature.strip().lower().encode("utf-8")):
            raise CryptoError("bad_signature", "X-Lark-Signature does not match")

    def encrypt(self, plaintext: str, iv: bytes | None = None) -> str:
        """Encrypt ``plaintext`` (UTF-8) with a fresh random IV (or ``iv``, for test vectors)."""
        iv = secrets.token_bytes(_BLOCK) if iv is None else iv
        if len(iv) != _BLOCK:
            raise ValueError("iv must be 16 bytes")
        data = plaintext.encode("utf-8")
        pad = _BLOCK - len(data) % _BLOCK
        encryptor = Cipher(algorithms.AES(self._key), modes.CBC(iv)).encryptor()
        sealed = encryptor.update(data + bytes([pad]) * pad) + encryptor.finalize()
        return base64.b64encode(iv + sealed).decode("ascii")

    def decrypt(self, encrypt: str) -> str:
        """Decrypt a base64 ``encrypt`` value and return the text.

        Raises:
            CryptoError: ``bad_base64`` (not base64), ``bad_ciphertext`` (too short or not whole AES
                blocks, or not UTF-8 inside), ``bad_padding`` (wrong key or damaged ciphertext).
        """
        try:
            raw = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CryptoError("bad_base64", "encrypt is not base64") from exc
        if len(raw) < 2 * _BLOCK or len(raw) % _BLOCK:
            raise CryptoError("bad_ciphertext", "ciphertext is not an IV plus whole AES blocks")
        decryptor = Cipher(algorithms.AES(self._key), modes.CBC(raw[:_BLOCK])).decryptor()
        plain = decryptor.update(raw[_BLOCK:]) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= _BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise CryptoError("bad_padding", "bad PKCS#7 padding: wrong Encrypt Key or damaged ciphertext")
        try:
            return plain[:-pad].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CryptoError("bad_ciphertext", "plaintext is not UTF-8") from exc
