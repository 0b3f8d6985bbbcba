"""Serving a configured fleet as simulated meters (demo and `headend simulate`)."""

from headend.simulation.fleet import SimulatedFleet, simulated_fleet

__all__ = ["SimulatedFleet", "simulated_fleet"]
