"""Simulated meters and concentrators: a product feature for the demo, benchmarks and tests.

`physics` holds the protocol-neutral meter (consumption model, registers, load profile, events,
obedience to commands); each protocol's simulator serves that same meter over its own wire format.
"""
