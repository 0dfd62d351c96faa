"""The log's Ed25519 signing key: made on first start under the data directory, or supplied."""

from __future__ import annotations

import base64
import contextlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEY_FILE = "log-signing-key.pem"


class LogSigner:
    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private_key = private_key
        self.public_key: Ed25519PublicKey = private_key.public_key()
        self.public_key_raw = self.public_key.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    def sign(self, message: bytes) -> str:
        """The base64 Ed25519 signature of ``message``."""
        return base64.b64encode(self._private_key.sign(message)).decode()

    @property
    def public_key_b64(self) -> str:
        return base64.b64encode(self.public_key_raw).decode()


def key_path(data_dir: Path, key_file: Path | None = None) -> Path:
    """Where the key is: ``key_file`` if given, else its place in ``data_dir``."""
    return key_file or data_dir / KEY_FILE


def load_or_create_signer(
    data_dir: Path, key_file: Path | None = None, *, create: bool = False
) -> LogSigner:
    """The key in ``key_file`` if given, else in ``data_dir`` (made there if absent).

    A named ``key_file`` is made only with ``create`` (``auction signing-key``): replicas share
    that key, so a server that cannot find it must stop, not sign with a key of its own."""
    path = key_path(data_dir, key_file)
    if not path.exists():
        if key_file is not None and not create:
            raise FileNotFoundError(
                f"the signing key file {key_file} does not exist (`auction signing-key` makes it)"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # Written once, readable by the service's user only; never replaced silently. If another
        # process made it at the same moment, theirs is the key.
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as file:
                file.write(pem)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return LogSigner(key)
