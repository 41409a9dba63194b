"""The WXBizMsgCrypt algorithm (contracts §1.5 and §2.4).

::

    aes_key   = base64decode(EncodingAESKey + "=")            # 43 characters → 32 bytes
    plain     = rand16 ‖ uint32_be(len(msg bytes)) ‖ msg ‖ receive_id
    encrypt   = base64(AES-256-CBC(aes_key, iv=aes_key[:16], PKCS7(plain, block=32)))
    signature = sha1_hex("".join(sorted([token, timestamp, nonce, encrypt])))

The length prefix counts bytes, not characters: DingTalk's own Python 3 sample counts characters and
breaks on Chinese text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import string
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = ["CryptoError", "MsgCrypt", "signature"]

_BLOCK = 32
_ALPHABET = string.ascii_letters + string.digits


class CryptoError(ValueError):
    """The ciphertext or signature is not valid; ``reason`` is a short machine-readable cause."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


def signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """Return the SHA-1 hex signature over the sorted four strings."""
    joined = "".join(sorted([token, timestamp, nonce, encrypt]))
    return hashlib.sha1(joined.encode("utf-8"), usedforsecurity=False).hexdigest()


class MsgCrypt:
    """Encrypt, decrypt and sign messages for one callback subscription.

    Args:
        token: the callback token configured in the vendor's console.
        encoding_aes_key: the 43-character EncodingAESKey.
        receive_id: appKey / corpId / suiteKey (DingTalk) or corpid (WeCom); checked on decrypt.
    """

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        if len(encoding_aes_key) != 43:
            raise ValueError("EncodingAESKey must be 43 characters")
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except binascii.Error as exc:
            raise ValueError("EncodingAESKey is not base64") from exc
        self._token = token
        self._key = key
        self._receive_id = receive_id.encode("utf-8")

    def sign(self, timestamp: str, nonce: str, encrypt: str) -> str:
        """Signature of a message under this subscription's token."""
        return signature(self._token, timestamp, nonce, encrypt)

    def verify(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> None:
        """Raise :class:`CryptoError` unless the signature matches (compared in constant time)."""
        expected = self.sign(timestamp, nonce, encrypt)
        if not hmac.compare_digest(expected.encode(), msg_signature.lower().encode()):
            raise CryptoError("bad_signature", "signature does not match")

    def encrypt(self, message: str, random16: bytes | None = None) -> str:
        """Encrypt ``message`` and return the base64 ciphertext."""
        rand = random16 if random16 is not None else "".join(
            secrets.choice(_ALPHABET) for _ in range(16)).encode()
        if len(rand) != 16:
            raise ValueError("random prefix must be 16 bytes")
        body = message.encode("utf-8")
        plain = rand + struct.pack(">I", len(body)) + body + self._receive_id
        pad = _BLOCK - len(plain) % _BLOCK
        plain += bytes([pad]) * pad
        encryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16])).encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")

    def decrypt(self, encrypt: str) -> str:
        """Decrypt a base64 ciphertext, check the receiver id, and return the message text."""
        try:
            raw = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CryptoError("bad_ciphertext", "ciphertext is not base64") from exc
        if not raw or len(raw) % 16:
            raise CryptoError("bad_ciphertext", "ciphertext length is not a multiple of the AES block")
        decryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16])).decryptor()
        plain = decryptor.update(raw) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= _BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise CryptoError("bad_ciphertext", "bad padding: wrong key or damaged ciphertext")
        plain = plain[:-pad]
        if len(plain) < 20:
            raise CryptoError("bad_ciphertext", "plaintext too short")
        (length,) = struct.unpack(">I", plain[16:20])
        body = plain[20 : 20 + length]
        if len(body) != length:
            raise CryptoError("bad_ciphertext", "length prefix exceeds the plaintext")
        if not hmac.compare_digest(plain[20 + length :], self._receive_id):
            raise CryptoError("wrong_receiver", "message was encrypted for another receiver id")
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CryptoError("bad_ciphertext", "message is not UTF-8") from exc

    def seal(self, message: str, timestamp: str, nonce: str) -> dict[str, str]:
        """Encrypt and sign: the fields of a DingTalk-style JSON envelope."""
        encrypt = self.encrypt(message)
        return {"msg_signature": self.sign(timestamp, nonce, encrypt), "timeStamp": timestamp,
                "nonce": nonce, "encrypt": encrypt}

    def open(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> str:
        """Verify and decrypt in one call."""
        self.verify(msg_signature, timestamp, nonce, encrypt)
        return self.decrypt(encrypt)
