"""Benchmarks of the SCIM gateway: ``python -m benchmarks.run`` (``make bench``)."""
