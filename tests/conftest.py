"""Test-session set-up shared by every folder.

The in-process listeners of the tests run on grpc's listener as the ``durable-ext`` commands
choose it; this must happen before anything imports grpc (see
``azure_durable_ext.sidecar.grpc_listener_engine``). Subprocesses inherit the setting.
"""
from azure_durable_ext.sidecar.grpc_listener_engine import prefer_classic_listener

prefer_classic_listener()
