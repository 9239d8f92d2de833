"""storage/memory layer."""
