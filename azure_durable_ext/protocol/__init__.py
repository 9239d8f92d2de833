"""Wire-level helpers: the sidecar RPC table, conversions between wire and core types."""
