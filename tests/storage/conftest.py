"""Storage-provider fixtures: Azurite (session-wide) and per-test task hubs."""
from azurite_fixture import azure_service, azurite  # noqa: F401  (fixtures)
