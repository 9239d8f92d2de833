"""The in-memory storage provider (fast tests, ``--storage memory``, benchmarks)."""
from .service import InMemoryOrchestrationService

__all__ = ["InMemoryOrchestrationService"]
