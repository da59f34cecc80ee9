"""Provider signing secrets encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256, from
`cryptography`) under the key(s) of RENTFLOW_SECRETS_KEY: the first key encrypts, every key
decrypts (MultiFernet), so the key itself can be changed by listing the new one first and
re-encrypting (`SecretBox.rotate`)."""
from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretKeyMismatch(RuntimeError):
    """A stored secret cannot be decrypted with the configured key(s)."""


class SecretBox:
    def __init__(self, keys: str) -> None:
        fernets = [Fernet(k.strip()) for k in keys.split(",") if k.strip()]
        self.several_keys = len(fernets) > 1
        self._fernet = MultiFernet(fernets)

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode("ascii")

    def open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except InvalidToken:
            raise SecretKeyMismatch(
                "a provider secret cannot be decrypted with RENTFLOW_SECRETS_KEY: the key is not the one the "
                "secrets were stored with (list the old key after the new one, comma-separated)") from None

    def rotate(self, token: str) -> str:
        """The same secret under the first key."""
        return self._fernet.rotate(token.encode("ascii")).decode("ascii")
