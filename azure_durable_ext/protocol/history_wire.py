"""A history's events in the wire form an OrchestratorRequest carries them, kept as it grows.

Every episode sends the instance's whole history in ``OrchestratorRequest.pastEvents``.
Copying the event objects into the request (``pastEvents.extend``) costs ~1.3 us per event
(~200 us for a 150-event history, on the critical path of every step of a long
orchestration), while parsing the same events from their encoded form costs ~0.2 us per
event. A provider that keeps histories in memory keeps their encoding beside them with
``PastEventsWire`` (each event is encoded once, when it joins the history) and hands it to the
episode. A work item for a worker stream is written around the request's encoding
(``encoded_orchestrator_work_item``) with those bytes spliced in as they are, so the history
of an episode a worker stream runs is neither parsed nor encoded again (a WorkItem message
would also copy the whole request once more); runners that need the request as a message
parse the bytes into it once.
"""
from __future__ import annotations

from collections.abc import Sequence

from .._proto import pb

#: Field 3 of OrchestratorRequest (pastEvents), length-delimited: (3 << 3) | 2.
_PAST_EVENTS_TAG = b"\x1a"
#: WorkItem's orchestratorRequest (field 1) and completionToken (field 10), length-delimited.
_ORCHESTRATOR_REQUEST_TAG = b"\x0a"
_COMPLETION_TOKEN_TAG = b"\x52"


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _length_delimited(tag: bytes, data: bytes) -> bytes:
    return tag + _varint(len(data)) + data


def encode_past_event(event: pb.HistoryEvent) -> bytes:
    """``event`` as one ``pastEvents`` entry of an encoded OrchestratorRequest."""
    return _length_delimited(_PAST_EVENTS_TAG, event.SerializeToString())


def encoded_orchestrator_work_item(
    request: pb.OrchestratorRequest, completion_token: str, past_events_wire: bytes = b""
) -> bytes:
    """The encoding of ``WorkItem(orchestratorRequest=request, completionToken=...)``, the
    request's ``pastEvents`` extended by the encoded entries ``past_events_wire``.

    Protobuf parsers accept a message's fields in any order and append a repeated field's
    entries in the order they come, so the entries may follow the request's other fields.
    """
    return _length_delimited(_ORCHESTRATOR_REQUEST_TAG, request.SerializeToString() + past_events_wire) + _length_delimited(
        _COMPLETION_TOKEN_TAG, completion_token.encode()
    )


class PastEventsWire:
    """The encoded ``pastEvents`` entries of one history list.

    A history list only grows (``extend``/``append``) until it is replaced by another list
    object; ``of`` encodes the events added since its last call and starts over when handed
    a different list (or a shorter one, should a list ever shrink).
    """

    __slots__ = ("_history", "_count", "_wire")

    def __init__(self) -> None:
        self._history: Sequence[pb.HistoryEvent] | None = None
        self._count = 0
        self._wire = bytearray()

    def of(self, history: Sequence[pb.HistoryEvent]) -> bytes:
        """The encoded entries of every event in ``history``, in order."""
        if history is not self._history or len(history) < self._count:
            self._history, self._count = history, 0
            self._wire.clear()
        for event in history[self._count:]:
            self._wire += encode_past_event(event)
        self._count = len(history)
        return bytes(self._wire)
