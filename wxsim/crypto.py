"""WeChat message crypto (the WXBizMsgCrypt scheme) used for safe/compat pushes.

Implemented from the protocol description (WECHAT.md §4) so that wxsim does not
depend on any WeChat SDK: AES-256-CBC with IV = key[:16], PKCS#7 padding to a
multiple of 32 bytes, and a SHA-1 signature over the sorted strings.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import string
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32
_ALNUM = string.ascii_letters + string.digits


class CryptoError(ValueError):
    """Raised when a ciphertext, signature or appid trailer does not check out."""


def sha1_signature(*parts: str) -> str:
    """WeChat's signature: sha1 of the lexicographically sorted parts, hex."""
    data = "".join(sorted(str(p) for p in parts)).encode()
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


def pkcs7_pad(data: bytes, block: int = BLOCK) -> bytes:
    n = block - len(data) % block
    return data + bytes([n]) * n


def pkcs7_unpad(data: bytes, block: int = BLOCK) -> bytes:
    if not data:
        raise CryptoError("empty plaintext")
    n = data[-1]
    if n < 1 or n > block:
        raise CryptoError("bad padding")
    return data[:-n]


def random_nonce() -> str:
    """A numeric nonce like the ones WeChat puts in callback URLs."""
    return str(secrets.randbelow(9_000_000_000) + 1_000_000_000)


def random_encoding_aes_key() -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(43))


def check_encoding_aes_key(key: str) -> bool:
    return len(key) == 43 and all(c in _ALNUM for c in key)


class WXBizMsgCrypt:
    """Encrypts/decrypts message bodies for one (token, EncodingAESKey, appid)."""

    def __init__(self, token: str, encoding_aes_key: str, appid: str) -> None:
        try:
            key = base64.b64decode(encoding_aes_key + "=")
        except ValueError as exc:
            raise CryptoError("EncodingAESKey is not base64") from exc
        if len(key) != 32:
            raise CryptoError("EncodingAESKey must decode to 32 bytes")
        self.token = token
        self.key = key
        self.appid = appid

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def encrypt(self, text: str | bytes, random_prefix: bytes | None = None) -> str:
        """Return base64(AES(random16 || len || msg || appid))."""
        msg = text.encode() if isinstance(text, str) else text
        prefix = random_prefix if random_prefix is not None else os.urandom(16)
        plain = prefix + struct.pack(">I", len(msg)) + msg + self.appid.encode()
        enc = self._cipher().encryptor()
        return base64.b64encode(enc.update(pkcs7_pad(plain)) + enc.finalize()).decode()

    def decrypt(self, encrypted: str, expected_appid: str | None = None) -> str:
        try:
            raw = base64.b64decode(encrypted)
        except (ValueError, TypeError) as exc:
            raise CryptoError("bad base64") from exc
        if not raw or len(raw) % 16:
            raise CryptoError("bad ciphertext length")
        dec = self._cipher().decryptor()
        plain = pkcs7_unpad(dec.update(raw) + dec.finalize())
        if len(plain) < 20:
            raise CryptoError("plaintext too short")
        (length,) = struct.unpack(">I", plain[16:20])
        msg = plain[20 : 20 + length]
        appid = plain[20 + length :].decode(errors="replace")
        if appid != (expected_appid or self.appid):
            raise CryptoError("appid mismatch")
        try:
            return msg.decode()
        except UnicodeDecodeError as exc:
            raise CryptoError("plaintext is not UTF-8") from exc

    def signature(self, timestamp: str, nonce: str, encrypted: str) -> str:
        return sha1_signature(self.token, timestamp, nonce, encrypted)

    def encrypt_reply(
        self, text: str, timestamp: str, nonce: str, random_prefix: bytes | None = None
    ) -> str:
        """The encrypted reply envelope, exactly as WeChat documents it."""
        encrypted = self.encrypt(text, random_prefix)
        sig = self.signature(timestamp, nonce, encrypted)
        return (
            "<xml>\n"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt>\n"
            f"<MsgSignature><![CDATA[{sig}]]></MsgSignature>\n"
            f"<TimeStamp>{timestamp}</TimeStamp>\n"
            f"<Nonce><![CDATA[{nonce}]]></Nonce>\n"
            "</xml>"
        )
