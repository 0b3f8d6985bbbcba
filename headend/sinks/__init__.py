"""Sinks of the outbox: MQTT and InfluxDB, and the forwarder that feeds each at its own pace."""
