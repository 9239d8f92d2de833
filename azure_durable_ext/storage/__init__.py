"""Storage providers behind one OrchestrationService interface."""
from .service import (
    ActivityWorkItem,
    OrchestrationCheckpoint,
    OrchestrationService,
    OrchestrationWorkItem,
)

__all__ = ["ActivityWorkItem", "OrchestrationCheckpoint", "OrchestrationService", "OrchestrationWorkItem"]
