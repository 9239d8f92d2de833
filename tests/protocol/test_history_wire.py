"""protocol.history_wire: a history's pastEvents encoding, kept as the history grows."""
from __future__ import annotations

from azure_durable_ext._proto import pb
from azure_durable_ext.protocol.history_wire import PastEventsWire, encode_past_event


def _event(event_id: int, payload: str = "") -> pb.HistoryEvent:
    e = pb.HistoryEvent(eventId=event_id)
    e.timestamp.FromSeconds(1_790_000_000 + event_id)
    e.taskScheduled.name = "Activity"
    if payload:
        e.taskScheduled.input.value = payload
    return e


def _parsed(wire: bytes) -> list[pb.HistoryEvent]:
    return list(pb.OrchestratorRequest.FromString(wire).pastEvents)


def test_entries_parse_back_as_the_request_would_carry_them() -> None:
    # Sizes around the varint steps: < 128, >= 128 and >= 16384 bytes of event.
    events = [_event(0), _event(1, "x" * 200), _event(2, "ü" * 9000), _event(3, "y" * 20000)]
    wire = b"".join(encode_past_event(e) for e in events)
    assert _parsed(wire) == events
    request = pb.OrchestratorRequest(instanceId="i")
    request.pastEvents.extend(events)
    assert pb.OrchestratorRequest(instanceId="i").SerializeToString() + wire == request.SerializeToString()


def test_the_wire_follows_a_growing_list_and_starts_over_for_another() -> None:
    wire = PastEventsWire()
    history = [_event(0), _event(1)]
    assert _parsed(wire.of(history)) == history
    history.extend([_event(2), _event(3, "z" * 300)])
    assert _parsed(wire.of(history)) == history
    assert _parsed(wire.of(history)) == history, "asked again without change"
    replaced = [_event(7)]  # a new execution's history: another list object
    assert _parsed(wire.of(replaced)) == replaced
    replaced.clear()  # a list that shrank is encoded afresh
    assert wire.of(replaced) == b""
    replaced.append(_event(8))
    assert _parsed(wire.of(replaced)) == [_event(8)]
    assert PastEventsWire().of([]) == b""


def test_an_encoded_orchestrator_work_item_is_the_work_item_message() -> None:
    from azure_durable_ext.protocol.history_wire import encoded_orchestrator_work_item

    request = pb.OrchestratorRequest(instanceId="inst")
    request.executionId.value = "e1"
    request.pastEvents.extend([_event(0), _event(1, "p" * 20000)])
    request.newEvents.append(_event(2))
    encoded = encoded_orchestrator_work_item(request, "tok-17")
    expected = pb.WorkItem(orchestratorRequest=request, completionToken="tok-17")
    assert pb.WorkItem.FromString(encoded) == expected
    assert encoded == expected.SerializeToString()


def test_streamed_responses_may_come_encoded() -> None:
    from azure_durable_ext.protocol.sidecar_rpc import method_handlers

    class Servicer:
        async def GetWorkItems(self, request: object, context: object) -> None:
            raise AssertionError("not called")

        async def StartInstance(self, request: object, context: object) -> None:
            raise AssertionError("not called")

    handlers = method_handlers(Servicer())
    ping = pb.WorkItem(healthPing=pb.HealthPing())
    streamed = handlers["GetWorkItems"].response_serializer
    assert streamed is not None
    assert streamed(b"\x22\x00") == b"\x22\x00" and streamed(ping) == ping.SerializeToString()
    unary = handlers["StartInstance"].response_serializer
    assert unary is not None and unary(pb.CreateInstanceResponse(instanceId="x")) == b"\n\x01x"
