"""Scale-out: channel jobs carried on NATS JetStream between a scheduler and worker processes.

The scheduler publishes jobs through `QueueExecutor` (the reading service's executor interface),
workers pull them with `ClusterWorker` and run them with the in-process executor; channel leases
and worker heartbeats live in JetStream key-value buckets. See DESIGN.md section 4.
"""
