"""Outbound authentication: the strategies a connection's HTTP client uses."""
