"""The `[cluster]` configuration section and the NATS connection options built from it.

Credentials never come from the file: only from the environment (`HEADEND_NATS_USER` and
`HEADEND_NATS_PASSWORD`, or `HEADEND_NATS_TOKEN`, or `HEADEND_NATS_CREDS`, a credentials file),
and they go straight into the connection options, never into the model, a log or an error.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ENV_USER = "HEADEND_NATS_USER"
ENV_PASSWORD = "HEADEND_NATS_PASSWORD"
ENV_TOKEN = "HEADEND_NATS_TOKEN"
ENV_CREDS = "HEADEND_NATS_CREDS"

_NAME = r"^[A-Za-z0-9_-]+$"  # stream, consumer and bucket names: no dots, spaces or wildcards


class ClusterSettings(BaseModel):
    """Where the JetStream cluster is and how jobs are carried on it."""

    # a URL given with a password must not come back in the error text
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    nats_url: str | list[str] = "nats://127.0.0.1:4222"
    stream: str = Field(default="HEADEND_JOBS", pattern=_NAME)
    dead_letter_stream: str = Field(default="HEADEND_DEAD", pattern=_NAME)
    results_stream: str = Field(default="HEADEND_RESULTS", pattern=_NAME)
    consumer: str = Field(default="headend-workers", pattern=_NAME)
    lease_bucket: str = Field(default="headend_leases", pattern=_NAME)
    worker_bucket: str = Field(default="headend_workers", pattern=_NAME)
    ack_wait_s: float = Field(default=60.0, gt=0, description="redelivery after this silence")
    max_deliver: int = Field(default=5, ge=1, description="deliveries before the dead letter")
    nak_backoff_s: list[float] = Field(
        default_factory=lambda: [2.0, 10.0, 30.0, 60.0],
        min_length=1,
        description="delay before the n-th redelivery of a failed job (the last one repeats)",
    )
    lease_ttl_s: float = Field(default=30.0, gt=0, description="a lease not renewed expires")
    heartbeat_s: float = Field(default=5.0, gt=0)
    job_timeout_s: float = Field(default=3600.0, gt=0, description="scheduler's wait for a report")
    connect_timeout_s: float = Field(default=10.0, gt=0, description="first connection only")
    results_max_age_s: float = Field(default=86400.0, gt=0)
    worker_jobs: int = Field(
        default=64, ge=1, description="bulk channel jobs one worker process runs at once"
    )
    worker_priority_jobs: int = Field(
        default=4, ge=1, description="priority jobs (on-demand reads) one worker runs at once"
    )
    scheduler_jobs_in_flight: int = Field(
        default=4096,
        ge=1,
        le=100_000,
        description="jobs a scheduler has published and awaits at once: well above the "
        "workers' slots, the rest wait in the scheduler",
    )
    fetch_wait_s: float = Field(
        default=1.0, gt=0, description="an idle worker's long poll: bounds a priority job's wait"
    )

    @field_validator("nats_url")
    @classmethod
    def _urls(cls, value: str | list[str]) -> str | list[str]:
        urls = [value] if isinstance(value, str) else value
        if not urls:
            raise ValueError("at least one NATS URL is needed")
        for url in urls:
            parts = urllib.parse.urlsplit(url)
            if parts.scheme not in ("nats", "tls", "ws", "wss") or not parts.hostname:
                # the URL is not echoed: a malformed one may hold a password
                raise ValueError("a NATS URL is nats://host:port (or tls://, ws://, wss://)")
            if parts.username or parts.password:
                raise ValueError(
                    f"a NATS URL must not hold credentials: set {ENV_USER}/{ENV_PASSWORD}, "
                    f"{ENV_TOKEN} or {ENV_CREDS} in the environment"
                )
        return value

    @field_validator("nak_backoff_s")
    @classmethod
    def _backoff(cls, value: list[float]) -> list[float]:
        if any(delay <= 0 for delay in value):
            raise ValueError("every nak backoff delay must be positive")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        names = [self.stream, self.dead_letter_stream, self.results_stream]
        if len(set(names)) != len(names):
            raise ValueError("stream, dead_letter_stream and results_stream must differ")
        if self.lease_bucket == self.worker_bucket:
            raise ValueError("lease_bucket and worker_bucket must differ")
        if self.lease_renew_s >= self.lease_ttl_s:
            raise ValueError("the lease renewal must come before the lease TTL")
        return self

    @property
    def urls(self) -> list[str]:
        return [self.nats_url] if isinstance(self.nats_url, str) else list(self.nats_url)

    @property
    def lease_renew_s(self) -> float:
        """A lease is renewed three times per TTL: one lost renewal does not lose it."""
        return self.lease_ttl_s / 3

    @property
    def worker_ttl_s(self) -> float:
        """A worker missing three heartbeats is gone."""
        return 3 * self.heartbeat_s

    @property
    def progress_s(self) -> float:
        """How often a running job tells JetStream it is still being worked on."""
        return self.ack_wait_s / 3


def connect_options(settings: ClusterSettings, environ: Mapping[str, str]) -> dict[str, Any]:
    """Keyword arguments for `nats.connect`; credentials from `environ` only.

    Raises ValueError (naming variables, never values) for an incomplete or ambiguous set.
    """
    options: dict[str, Any] = {"servers": settings.urls}
    user, password = environ.get(ENV_USER), environ.get(ENV_PASSWORD)
    token, creds = environ.get(ENV_TOKEN), environ.get(ENV_CREDS)
    given = [name for name, v in ((ENV_USER, user), (ENV_TOKEN, token), (ENV_CREDS, creds)) if v]
    if len(given) > 1:
        raise ValueError(f"NATS credentials: set only one of {', '.join(given)}")
    if bool(user) != bool(password):
        raise ValueError(f"NATS credentials: {ENV_USER} and {ENV_PASSWORD} go together")
    if user and password:
        options["user"], options["password"] = user, password
    elif token:
        options["token"] = token
    elif creds:
        options["user_credentials"] = creds
    return options
