"""Instance-id rules of DurableClient.StartNewAsync, and new-id generation."""
from __future__ import annotations

import os
import re

from .errors import InvalidInstanceIdError

MAX_INSTANCE_ID_LENGTH = 256
_FORBIDDEN = frozenset("/\\#?")
# Fast path for the common, valid id: one C-level match instead of a Python loop per
# character (StartInstance runs this on every call). The loop below names the broken rule.
_PLAINLY_VALID = re.compile(r"[^@/\\#?\x00-\x1f\x7f-\x9f][^/\\#?\x00-\x1f\x7f-\x9f]{0,%d}" % (MAX_INSTANCE_ID_LENGTH - 1))


def random_guid_hex() -> str:
    """A random (version 4) GUID in .NET "N" format: 32 lower-case hex digits, no dashes.
    Built from 16 random bytes directly: uuid.UUID's constructor is most of the cost of
    uuid4(), and ids are made on every start and every request to storage."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return raw.hex()


def random_guid() -> str:
    """A random (version 4) GUID in .NET "D" format (8-4-4-4-12 hex digits)."""
    text = random_guid_hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def new_instance_id() -> str:
    """A new GUID in .NET "N" format: 32 lower-case hex digits, no dashes."""
    return random_guid_hex()


def validate_instance_id(instance_id: str) -> str:
    """Return ``instance_id`` if it is allowed, else raise naming the broken rule."""
    if isinstance(instance_id, str) and _PLAINLY_VALID.fullmatch(instance_id):
        return instance_id
    if not isinstance(instance_id, str):
        raise InvalidInstanceIdError(f"instance id must be a string, not {type(instance_id).__name__}")
    if not instance_id:
        raise InvalidInstanceIdError("instance id must not be empty")
    if len(instance_id) > MAX_INSTANCE_ID_LENGTH:
        raise InvalidInstanceIdError(
            f"instance id is {len(instance_id)} characters long; the limit is {MAX_INSTANCE_ID_LENGTH}"
        )
    if instance_id.startswith("@"):
        raise InvalidInstanceIdError(
            f"instance id {instance_id!r} must not start with '@' (reserved for entity ids)"
        )
    for ch in instance_id:
        if ch in _FORBIDDEN:
            raise InvalidInstanceIdError(
                f"instance id {instance_id!r} must not contain {ch!r} (any of '/', '\\', '#', '?')"
            )
        if ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F:
            raise InvalidInstanceIdError(
                f"instance id {instance_id!r} must not contain control characters (found U+{ord(ch):04X})"
            )
    return instance_id
