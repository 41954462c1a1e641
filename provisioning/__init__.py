"""Outbound provisioning: the outbox today; workers, mapping and connectors next."""
