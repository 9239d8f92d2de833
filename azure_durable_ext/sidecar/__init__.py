"""sidecar layer."""
