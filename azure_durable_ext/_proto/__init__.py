"""Generated protobuf code (do not edit; regenerate with scripts/gen_protos.sh).

The proto package is ``azure_durable_ext.sidecar`` so these descriptors never clash with the
``durabletask`` package's copy in protobuf's default pool; message wire encoding does not
depend on the package name.
"""
from . import orchestrator_service_pb2 as pb

__all__ = ["pb"]
