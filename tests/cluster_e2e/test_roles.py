"""The `[cluster]` section of a fleet file and what the roles require of it (no servers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from headend.cluster.settings import ClusterSettings
from headend.config import load_config
from headend.config.errors import ConfigError
from headend.config.loader import HeadendConfig
from headend.service.roles import (
    RoleRefused,
    cluster_role_settings,
    connect,
    is_server_store,
    scheduler_config,
)

FLEET = (
    '[site]\nname = "s1"\n\n'
    '[[channels]]\nid = "line"\nhost = "127.0.0.1"\nport = 1\n\n'
    '[[meters]]\nid = "m1"\nprotocol = "dlt645"\nchannel = "line"\naddress = "000000000001"\n'
)
PG = "postgresql://headend@db.example/site"


def fleet(tmp_path: Path, extra: str = "") -> HeadendConfig:
    path = tmp_path / "fleet.toml"
    path.write_text(FLEET + extra)
    return load_config(path, env={})


def test_a_cluster_section_is_read_with_its_defaults(tmp_path: Path) -> None:
    config = fleet(tmp_path, '\n[cluster]\nnats_url = ["nats://n1:4222", "nats://n2:4222"]\n')
    assert config.fleet.cluster == ClusterSettings(nats_url=["nats://n1:4222", "nats://n2:4222"])
    assert fleet(tmp_path).fleet.cluster is None


def test_an_error_in_the_cluster_section_names_its_key_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        fleet(tmp_path, "\n[cluster]\nack_wait_s = 0\n")
    assert "cluster.ack_wait_s" in str(raised.value)
    with pytest.raises(ConfigError) as raised:
        fleet(tmp_path, '\n[cluster]\nnats_url = "nats://user:hunter2@n1:4222"\n')
    assert "cluster.nats_url" in str(raised.value) and "hunter2" not in str(raised.value)


def test_roles_need_a_cluster_and_postgresql(tmp_path: Path) -> None:
    plain = fleet(tmp_path)
    clustered = fleet(tmp_path, '\n[cluster]\nnats_url = "nats://n1:4222"\n')
    assert cluster_role_settings(plain, "site.sqlite3", "all") is None
    assert cluster_role_settings(clustered, PG, "worker") == clustered.fleet.cluster
    with pytest.raises(RoleRefused, match=r"role worker needs a \[cluster\] section"):
        cluster_role_settings(plain, PG, "worker")
    with pytest.raises(RoleRefused, match="role scheduler needs a PostgreSQL store"):
        cluster_role_settings(clustered, "sqlite:///var/site.sqlite3", "scheduler")
    with pytest.raises(RoleRefused, match="unknown role"):
        cluster_role_settings(clustered, PG, "leader")


def test_only_a_postgresql_url_is_a_shared_store() -> None:
    assert is_server_store(PG) and is_server_store("postgres://h/db")
    assert not is_server_store("site.sqlite3") and not is_server_store("sqlite:///site.sqlite3")


def test_the_scheduler_publishes_as_many_jobs_as_configured(tmp_path: Path) -> None:
    config = fleet(tmp_path, "\n[cluster]\nscheduler_jobs_in_flight = 300\n")
    assert config.fleet.cluster is not None
    scheduling = scheduler_config(config, config.fleet.cluster)
    assert scheduling.fleet.reading.max_channels == 300
    assert scheduling.fleet.meters == config.fleet.meters
    assert config.fleet.reading.max_channels == 4096  # the original is left as it was


async def test_what_the_operator_must_fix_is_refused_before_connecting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = ClusterSettings(nats_url="nats://127.0.0.1:1")  # nothing listens: not reached
    with pytest.raises(RoleRefused, match="cannot be part of a NATS subject"):
        await connect(settings, "my site", "test")
    monkeypatch.setenv("HEADEND_NATS_USER", "headend")
    with pytest.raises(RoleRefused, match="HEADEND_NATS_PASSWORD go together"):
        await connect(settings, "site", "test")
