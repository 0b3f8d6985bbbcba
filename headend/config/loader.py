"""Load and check a fleet TOML file and its key material; every problem becomes a `ConfigError`.

Problems are reported as `FILE: key.path[3].field: reason`. Cross-references (a meter's channel, its
key reference) are checked after the models validate. Key material is looked up in this order:
environment `HEADEND_KEY_<REF>_*`, then the keys file (`site.keys_file` or the `keys_file`
argument), then the simulation section's demo keys.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from drivers.dlms.settings import DlmsAuth, DlmsFraming
from drivers.registry import DRIVERS
from headend.config.errors import ConfigError, ConfigProblem
from headend.config.fleet import DlmsMeter, Fleet, SerialChannel
from headend.config.keys import KeysFile, KeyStore

_TAGS = {"dlms", "modbus", "dlt645", "tcp", "serial"}
_SECRET_FIELDS = {"password", "auth_key", "block_key", "key_material", "keys"}
_DISCRIMINATOR = {"meters": "protocol", "channels": "kind"}


@dataclass(frozen=True)
class HeadendConfig:
    """A checked fleet plus the key store that resolves its references."""

    path: Path
    fleet: Fleet
    keys: KeyStore


def load_config(
    path: Path | str, *, keys_file: Path | str | None = None, env: Mapping[str, str] | None = None
) -> HeadendConfig:
    path = Path(path)
    environ = dict(os.environ if env is None else env)
    fleet = validate_fleet(path, read_toml(path))
    fleet = _resolve_framing(fleet)
    problems = cross_check(fleet)
    if problems:
        raise ConfigError(path, problems)
    keys = _key_store(path, fleet, keys_file, environ)
    problems = check_keys(fleet, keys)
    if problems:
        raise ConfigError(path, problems)
    return HeadendConfig(path, fleet, keys)


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError.one(path, "", "no such file") from None
    except OSError as exc:
        raise ConfigError.one(path, "", f"cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError.one(path, "", f"not valid TOML: {exc}") from None


def validate_fleet(path: Path, data: dict[str, Any]) -> Fleet:
    try:
        return Fleet.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(path, problems_from(exc, data)) from None


def problems_from(exc: ValidationError, data: Any = None) -> list[ConfigProblem]:
    """Pydantic errors as key paths and reasons, never echoing the offending value."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = list(error["loc"])
        reason = error["msg"].removeprefix("Value error, ")
        parts: list[str | int] = []
        for i, part in enumerate(loc):
            if isinstance(part, str) and part in _TAGS and i > 0 and isinstance(loc[i - 1], int):
                continue  # the discriminated-union tag pydantic inserts
            parts.append(part)
        kind = error["type"]
        if kind in ("union_tag_invalid", "union_tag_not_found") and parts:
            field = _DISCRIMINATOR.get(str(parts[0]), "kind")
            parts.append(field)
            if kind == "union_tag_not_found":
                reason = "missing"
        if kind == "extra_forbidden" and parts and parts[-1] in _SECRET_FIELDS:
            reason = (
                'secrets do not belong in the fleet file; name a key reference (key = "...") '
                "and put the material in the keys file or the environment"
            )
        problems.append(ConfigProblem(key_path(parts), reason + _which(data, parts)))
    return problems


def key_path(parts: list[str | int]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + part
    return text


def _which(data: Any, parts: list[str | int]) -> str:
    # Name the meter/channel by id too: `meters[3]` alone is hard to find in a long file.
    if len(parts) >= 2 and parts[0] in ("meters", "channels") and isinstance(parts[1], int):
        try:
            ident = data[parts[0]][parts[1]]["id"]
        except (KeyError, IndexError, TypeError):
            return ""
        if isinstance(ident, str):
            return f" ({str(parts[0])[:-1]} {ident!r})"
    return ""


def _resolve_framing(fleet: Fleet) -> Fleet:
    channels = {channel.id: channel for channel in fleet.channels}
    meters = []
    for meter in fleet.meters:
        if isinstance(meter, DlmsMeter) and meter.framing is None:
            serial = isinstance(channels.get(meter.channel), SerialChannel)
            framing = DlmsFraming.HDLC if serial else DlmsFraming.WRAPPER
            meter = meter.model_copy(update={"framing": framing})
        meters.append(meter)
    return fleet.model_copy(update={"meters": meters})


def cross_check(fleet: Fleet) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    channels = {c.id: c for c in fleet.channels}
    protocols = {entry.protocol for entry in DRIVERS}
    kinds: tuple[tuple[str, list[Any]], ...] = (
        ("channels", fleet.channels),
        ("segments", fleet.segments),
        ("meters", fleet.meters),
    )
    for kind, items in kinds:
        seen: set[str] = set()
        for i, item in enumerate(items):
            if item.id in seen:
                problems.append(ConfigProblem(f"{kind}[{i}].id", f"duplicate id {item.id!r}"))
            seen.add(item.id)
    segments = {s.id for s in fleet.segments}
    for i, defined in enumerate(fleet.channels):
        if defined.segment is not None and defined.segment not in segments:
            problems.append(
                ConfigProblem(
                    f"channels[{i}].segment", f"no segment {defined.segment!r} is defined"
                )
            )
    names: set[str] = set()
    for i, plan in enumerate(fleet.plans):
        if plan.name in names:
            problems.append(ConfigProblem(f"plans[{i}].name", f"duplicate plan {plan.name!r}"))
        names.add(plan.name)
    for i, meter in enumerate(fleet.meters):
        where = f"meters[{i}]"
        if meter.protocol not in protocols:
            problems.append(
                ConfigProblem(
                    f"{where}.protocol",
                    f"no {meter.protocol!r} driver in this build (have: {', '.join(protocols)})",
                )
            )
        channel = channels.get(meter.channel)
        if channel is None:
            problems.append(
                ConfigProblem(f"{where}.channel", f"no channel {meter.channel!r} is defined")
            )
        elif isinstance(meter, DlmsMeter):
            if isinstance(channel, SerialChannel) and meter.framing is DlmsFraming.WRAPPER:
                problems.append(
                    ConfigProblem(f"{where}.framing", "the wrapper needs TCP; use hdlc on serial")
                )
        if isinstance(meter, DlmsMeter):
            if meter.needs_key and meter.key is None:
                problems.append(
                    ConfigProblem(
                        f"{where}.key",
                        f"auth {meter.auth.value!r}"
                        + (" with cipher" if meter.cipher else "")
                        + " needs a key reference",
                    )
                )
            title_needed = meter.auth is DlmsAuth.HLS_GMAC or meter.cipher
            if title_needed and meter.system_title is None and fleet.site.system_title is None:
                problems.append(
                    ConfigProblem(
                        f"{where}.system_title",
                        "hls-gmac/ciphering needs a client system title here or in site",
                    )
                )
    return problems


def _key_store(
    path: Path, fleet: Fleet, keys_file: Path | str | None, env: dict[str, str]
) -> KeyStore:
    store = KeyStore(env=env)
    if fleet.simulation is not None and fleet.simulation.demo_keys:
        for ref, entry in fleet.simulation.demo_keys.items():
            store.entries[ref] = entry.material()
        store.sources.append(f"demo keys in {path} [simulation.demo_keys]")
    file = Path(keys_file) if keys_file is not None else None
    if file is None and fleet.site.keys_file is not None:
        file = path.parent / fleet.site.keys_file
    if file is not None:
        data = read_toml(file)
        try:
            parsed = KeysFile.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(file, problems_from(exc)) from None
        for ref, entry in parsed.keys.items():
            store.entries[ref] = entry.material()
        store.sources.append(f"keys file {file}")
    return store


def check_keys(fleet: Fleet, keys: KeyStore) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for i, meter in enumerate(fleet.meters):
        if not isinstance(meter, DlmsMeter) or meter.key is None or not meter.needs_key:
            continue
        where = f"meters[{i}].key"
        try:
            material = keys.resolve(meter.key)
        except ValueError as exc:
            problems.append(ConfigProblem(where, str(exc)))
            continue
        if material is None:
            problems.append(
                ConfigProblem(
                    where,
                    f"key reference {meter.key!r} (meter {meter.id!r}) not found in "
                    + keys.describe_sources(meter.key),
                )
            )
            continue
        missing = []
        if meter.auth is DlmsAuth.LOW and material.password is None:
            missing.append("password")
        if meter.auth is DlmsAuth.HLS_GMAC or meter.cipher:
            missing += [n for n in ("auth_key", "block_key") if getattr(material, n) is None]
        if missing:
            problems.append(
                ConfigProblem(
                    where,
                    f"key reference {meter.key!r} has no {' or '.join(missing)} "
                    f"(needed for meter {meter.id!r} with auth {meter.auth.value!r})",
                )
            )
    return problems
