"""WeChat's callback crypto (WECHAT.md §4): signatures and the AES message envelope.

Kept free of XML and Django so it can be verified against the published vectors:
``signature = sha1(sorted(parts))``; body = AES-256-CBC(key, iv=key[:16]) of
``random16 || uint32_be(len) || msg || appid`` padded with PKCS#7 to 32 bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import struct
import time
from html import escape

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32


class CryptoError(ValueError):
    """The envelope does not check out; the request must be refused."""


class InvalidSignature(CryptoError):
    pass


class DecryptError(CryptoError):
    pass


class InvalidAppId(CryptoError):
    """Decrypted fine, but for another appid (another account's key or a replay)."""


def signature(*parts: str) -> str:
    """sha1 hex of the lexicographically sorted parts (URL and message signatures)."""
    return hashlib.sha1("".join(sorted(str(p) for p in parts)).encode(),
                        usedforsecurity=False).hexdigest()


def check_signature(token: str, sig: str, timestamp: str, nonce: str, *extra: str) -> None:
    """Raise :class:`InvalidSignature` unless ``sig`` signs (token, timestamp, nonce, extra…)."""
    expected = signature(token, timestamp, nonce, *extra)
    if not sig or not hmac.compare_digest(expected, str(sig).lower()):
        raise InvalidSignature("signature mismatch")


def valid_encoding_aes_key(key: str) -> bool:
    return len(key) == 43 and key.isascii() and key.isalnum()


def pkcs7_pad(data: bytes, block: int = BLOCK) -> bytes:
    n = block - len(data) % block
    return data + bytes([n]) * n


def pkcs7_unpad(data: bytes, block: int = BLOCK) -> bytes:
    if not data:
        raise DecryptError("empty plaintext")
    n = data[-1]
    if not 1 <= n <= block or len(data) < n:
        raise DecryptError("bad padding")
    return data[:-n]


class MessageCrypto:
    """Encrypt/decrypt callback bodies of one (token, EncodingAESKey, appid)."""

    def __init__(self, token: str, encoding_aes_key: str, appid: str) -> None:
        if not valid_encoding_aes_key(encoding_aes_key):
            raise CryptoError("EncodingAESKey must be 43 letters or digits")
        self.token = token
        self.key = base64.b64decode(encoding_aes_key + "=")
        self.appid = appid

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def encrypt(self, text: str, random_prefix: bytes | None = None) -> str:
        msg = text.encode()
        prefix = random_prefix if random_prefix is not None else os.urandom(16)
        plain = pkcs7_pad(prefix + struct.pack(">I", len(msg)) + msg + self.appid.encode())
        enc = self._cipher().encryptor()
        return base64.b64encode(enc.update(plain) + enc.finalize()).decode()

    def decrypt(self, encrypted: str) -> str:
        """The message inside ``encrypted``; checks padding, length and the appid trailer."""
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise DecryptError("not base64") from exc
        if not raw or len(raw) % 16:
            raise DecryptError("bad ciphertext length")
        dec = self._cipher().decryptor()
        plain = pkcs7_unpad(dec.update(raw) + dec.finalize())
        if len(plain) < 20:
            raise DecryptError("plaintext too short")
        (length,) = struct.unpack(">I", plain[16:20])
        if 20 + length > len(plain):
            raise DecryptError("bad length")
        msg, appid = plain[20:20 + length], plain[20 + length:]
        if not hmac.compare_digest(appid, self.appid.encode()):
            raise InvalidAppId("appid trailer does not match")
        try:
            return msg.decode()
        except UnicodeDecodeError as exc:
            raise DecryptError("message is not UTF-8") from exc

    def decrypt_message(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> str:
        """Check ``msg_signature`` over the ciphertext, then decrypt it."""
        check_signature(self.token, msg_signature, timestamp, nonce, encrypted)
        return self.decrypt(encrypted)

    def encrypt_reply(self, xml: str, timestamp: str | None = None, nonce: str | None = None,
                      random_prefix: bytes | None = None) -> str:
        """The encrypted passive-reply envelope WeChat expects in safe mode."""
        timestamp = timestamp or str(int(time.time()))
        nonce = nonce or str(secrets.randbelow(9_000_000_000) + 1_000_000_000)
        encrypted = self.encrypt(xml, random_prefix)
        sig = signature(self.token, timestamp, nonce, encrypted)
        return (
            "<xml>\n"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt>\n"
            f"<MsgSignature><![CDATA[{sig}]]></MsgSignature>\n"
            f"<TimeStamp>{escape(timestamp)}</TimeStamp>\n"
            f"<Nonce><![CDATA[{escape(nonce)}]]></Nonce>\n"
            "</xml>"
        )
