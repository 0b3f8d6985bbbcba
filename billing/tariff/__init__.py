"""Tariffs in TOML: flat, time-of-use, tiered blocks, demand and fixed charges, net metering."""
