"""Simulated Modbus meters: any shipped register map served from `SimulatedMeter` values, many
unit ids per bus, over TCP (MBAP or RTU framing) and over a pty, optionally paced to a baud rate.
"""

from drivers.sim.modbus.device import SimModbusDevice
from drivers.sim.modbus.server import Fault, ModbusSimServer, WireEvent

__all__ = ["Fault", "ModbusSimServer", "SimModbusDevice", "WireEvent"]
