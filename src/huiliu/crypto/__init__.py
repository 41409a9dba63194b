"""Callback cryptography of the OA vendors.

Owns: the WXBizMsgCrypt scheme shared byte for byte by DingTalk HTTP callbacks and WeCom callbacks
(AES-256-CBC, IV = key[:16], PKCS#7 to 32 bytes, SHA-1 signature over the sorted four strings). Does not
own: the vendors' envelopes (JSON for DingTalk, XML for WeCom) — the connectors wrap those.
"""

from huiliu.crypto.msgcrypt import CryptoError, MsgCrypt, signature

__all__ = ["CryptoError", "MsgCrypt", "signature"]
