"""storage/azure layer."""
