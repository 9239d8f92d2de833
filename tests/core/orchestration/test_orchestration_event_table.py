"""The history-event dispatch table covers every event kind of the protocol."""
from __future__ import annotations

from azure_durable_ext._proto import pb
from azure_durable_ext.core.orchestration.event_handlers import HANDLERS, UNSUSPENDABLE


def test_every_history_event_kind_has_a_handler():
    kinds = {field.name for field in pb.HistoryEvent.DESCRIPTOR.oneofs_by_name["eventType"].fields}
    assert set(HANDLERS) == kinds


def test_only_resume_and_terminate_pass_a_suspension():
    assert UNSUSPENDABLE == {"executionResumed", "executionTerminated"}
