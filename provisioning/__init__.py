"""Outbound provisioning: each stored change, sent to the tenant's targets.

Rooms, each importing only the ones below it (docs/architecture.md)::

    engine/      the queue and its loop: claims, leases, worker, delivery, ledger, retry
    accounts/    one event for one remote account: snapshot, decisions, execution, groups
    records/     the engine's rows: claims, account links, guard state, journal
    targets/     a connection made ready: connector, client, rate limit, validation
    mapping/     paths, transforms, field maps, scope filters
    connectors/  one module per vendor;  auth/  outbound credentials
    errors.py, responses.py   the exception hierarchy every room raises, and the reader of
                              vendor responses into it
"""
