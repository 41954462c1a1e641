"""The composition root: the CLI and the ASGI entry wire server, store and engine."""
