"""azure_durable_ext: versioned durable orchestrations for Azure Functions in Python."""
from .core import TaskName

__all__ = ["TaskName"]
