"""Key material by reference: a keys TOML file, overridden by environment variables.

Keys file (kept apart from the fleet file, readable by the service account only):

    [keys.lls-default]
    password = "12345678"          # LLS password, text
    [keys.hls-1]
    auth_key = "000102...0f"       # 32 hex digits (AES-128)
    block_key = "101112...1f"

Environment `HEADEND_KEY_<REF>_PASSWORD`, `..._AUTH`, `..._BLOCK` override single parts; `<REF>`
is the reference upper-cased with every other character than A-Z/0-9 turned into `_`
(`hls-1` -> `HEADEND_KEY_HLS_1_AUTH`). Nothing here ever prints key material.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, SecretBytes, SecretStr, field_validator


class KeyMaterial(BaseModel):
    """Resolved secrets of one reference. SecretBytes: repr and str show only asterisks."""

    model_config = ConfigDict(frozen=True)

    password: SecretBytes | None = None
    auth_key: SecretBytes | None = None
    block_key: SecretBytes | None = None


class KeyFileEntry(BaseModel):
    """One `[keys.<ref>]` table as written in TOML (hex text for the AES keys)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    password: SecretStr | None = None
    auth_key: SecretStr | None = None
    block_key: SecretStr | None = None

    @field_validator("auth_key", "block_key")
    @classmethod
    def _aes_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            aes_key_bytes(value.get_secret_value())
        return value

    def material(self) -> KeyMaterial:
        return KeyMaterial(
            password=_bytes(self.password.get_secret_value().encode()) if self.password else None,
            auth_key=_bytes(aes_key_bytes(self.auth_key.get_secret_value()))
            if self.auth_key
            else None,
            block_key=_bytes(aes_key_bytes(self.block_key.get_secret_value()))
            if self.block_key
            else None,
        )


class KeysFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    keys: dict[str, KeyFileEntry] = {}


def aes_key_bytes(text: str) -> bytes:
    """16 bytes from 32 hex digits; the error never repeats the text."""
    try:
        raw = bytes.fromhex(text.strip())
    except ValueError:
        raise ValueError("must be hexadecimal (32 hex digits)") from None
    if len(raw) != 16:
        raise ValueError(f"must be 16 bytes (32 hex digits), got {len(raw)} bytes")
    return raw


def env_prefix(reference: str) -> str:
    return "HEADEND_KEY_" + re.sub(r"[^A-Z0-9]", "_", reference.upper()) + "_"


@dataclass
class KeyStore:
    """Key references -> material. `sources` names where material was looked for (for errors)."""

    entries: dict[str, KeyMaterial] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)

    def resolve(self, reference: str) -> KeyMaterial | None:
        """The material for a reference, environment parts overriding file parts.

        Raises ValueError (naming the variable, not its value) for a malformed environment key.
        """
        base = self.entries.get(reference)
        prefix = env_prefix(reference)
        password = self.env.get(prefix + "PASSWORD")
        auth = self.env.get(prefix + "AUTH")
        block = self.env.get(prefix + "BLOCK")
        if base is None and password is None and auth is None and block is None:
            return None
        material = base or KeyMaterial()
        update: dict[str, SecretBytes] = {}
        if password is not None:
            update["password"] = _bytes(password.encode())
        for name, text, variable in (("auth_key", auth, "AUTH"), ("block_key", block, "BLOCK")):
            if text is not None:
                try:
                    update[name] = _bytes(aes_key_bytes(text))
                except ValueError as exc:
                    raise ValueError(f"{prefix}{variable} {exc}") from None
        return material.model_copy(update=update)

    def describe_sources(self, reference: str) -> str:
        return ", ".join([*self.sources, f"environment {env_prefix(reference)}*"])


def _bytes(raw: bytes) -> SecretBytes:
    return SecretBytes(raw)
