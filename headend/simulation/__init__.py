"""Serving a configured fleet as simulated meters (demo and `headend simulate`)."""

from headend.simulation.fleet import simulated_fleet

__all__ = ["simulated_fleet"]
