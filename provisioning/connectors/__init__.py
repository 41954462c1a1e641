"""Target connectors, one module per vendor or protocol."""
