"""The head-end service: schedules, the service clock, and the parts `headend run` puts together."""
