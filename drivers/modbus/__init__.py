"""Modbus meters (TCP, RTU on RS-485, RTU through a TCP gateway) behind the driver contract.

Public API: `parse_url`, `ModbusSettings`, `open_session` / `ModbusSession`, `ModbusBus`,
`load_map` / `known_models` / `map_points` for the register maps in `config/maps/`.
"""

from drivers.modbus.bus import ModbusBus, acquire_bus
from drivers.modbus.registermap import RegisterMap, known_models, load_map, map_points
from drivers.modbus.session import ModbusSession, open_session
from drivers.modbus.settings import ModbusFraming, ModbusSettings
from drivers.modbus.url import parse_url

__all__ = [
    "ModbusBus",
    "ModbusFraming",
    "ModbusSession",
    "ModbusSettings",
    "RegisterMap",
    "acquire_bus",
    "known_models",
    "load_map",
    "map_points",
    "open_session",
    "parse_url",
]
