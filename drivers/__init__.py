"""Device drivers: transports, protocol codecs, device sessions and simulators.

Nothing in here imports from `headend` or `billing`; the service depends on drivers, never the
other way round. Every protocol implements the contract in `drivers.contract`.
"""
