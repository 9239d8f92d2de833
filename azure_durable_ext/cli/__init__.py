"""cli layer.

Every ``durable-ext`` command hosts gRPC servers (the sidecar's listener, the dev host's
FunctionRpc server), so grpc's listener is chosen here, before any command module loads grpc
(see ``sidecar.grpc_listener_engine``).
"""
from ..sidecar.grpc_listener_engine import prefer_classic_listener

prefer_classic_listener()
