"""The load manager: pure allocation of a feeder's capacity among households, hysteresis on the
resulting limits and fairness metrics. No I/O here; the service wires it to meters and commands."""
