"""How to reach and authenticate to one DLMS/COSEM meter."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretBytes, model_validator

from drivers.transport.settings import LinkSettings


class DlmsFraming(StrEnum):
    WRAPPER = "wrapper"  # IEC 62056-47 over TCP
    HDLC = "hdlc"  # IEC 62056-46 over a serial port or over TCP (concentrator transparent channel)


class DlmsAuth(StrEnum):
    NONE = "none"
    LOW = "low"  # LLS, password
    HLS_GMAC = "hls-gmac"


DEFAULT_CLIENT_ADDRESS = {DlmsAuth.NONE: 16, DlmsAuth.LOW: 17, DlmsAuth.HLS_GMAC: 1}


class DlmsSettings(BaseModel):
    """Connection and security parameters of one meter. Secrets are SecretBytes: never printed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    protocol: Literal["dlms"] = "dlms"
    framing: DlmsFraming
    link: LinkSettings
    client_address: int | None = Field(default=None, ge=0, le=0x7F)
    server_logical: int = Field(default=1, ge=0, le=0x3FFF)
    server_physical: int | None = Field(default=None, ge=0, le=0x3FFF)
    auth: DlmsAuth = DlmsAuth.NONE
    password: SecretBytes | None = None
    cipher: bool = False
    system_title: bytes | None = Field(default=None, description="client system title, 8 bytes")
    auth_key: SecretBytes | None = None
    block_key: SecretBytes | None = None
    timeout_s: float = Field(default=5.0, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    max_pdu_size: int = Field(default=1024, ge=64, le=65535)
    hdlc_max_info: int = Field(default=128, ge=32, le=2030)
    hdlc_window: int = Field(default=1, ge=1, le=7)
    # attributes per GET-with-list request (when the meter grants multiple-references); 1 = one
    # GET per attribute
    max_list: int = Field(default=10, ge=1, le=127)
    # scalers/units and profile capture objects cached longer than this are read again
    cache_max_age_s: float = Field(default=86_400.0, gt=0)
    # register values are clock-suspect when the meter's clock is further than this from the
    # head-end's receive time; None: only the clock's own status byte is checked (the drift
    # threshold is the head-end's policy, ReadingPolicy.clock_drift_max_s)
    clock_drift_max_s: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _check_security(self) -> DlmsSettings:
        if self.auth is DlmsAuth.LOW and self.password is None:
            raise ValueError("auth 'low' needs a password")
        needs_keys = self.auth is DlmsAuth.HLS_GMAC or self.cipher
        if needs_keys:
            missing = [
                n for n in ("system_title", "auth_key", "block_key") if getattr(self, n) is None
            ]
            if missing:
                raise ValueError(f"hls-gmac/ciphering needs {', '.join(missing)}")
        if self.system_title is not None and len(self.system_title) != 8:
            raise ValueError("system_title must be 8 bytes")
        for name in ("auth_key", "block_key"):
            key = getattr(self, name)
            if key is not None and len(key.get_secret_value()) != 16:
                raise ValueError(f"{name} must be 16 bytes (AES-128, security suite 0)")
        return self

    @property
    def effective_client_address(self) -> int:
        if self.client_address is not None:
            return self.client_address
        return DEFAULT_CLIENT_ADDRESS[self.auth]

    def counter_key(self, meter_id: str) -> str:
        """Key under which the client invocation counter for this meter is persisted."""
        title = self.system_title.hex() if self.system_title else "none"
        return f"dlms:{meter_id}:{title}:{self.effective_client_address}"
