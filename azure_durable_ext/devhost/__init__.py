"""devhost layer."""
