"""The exceptions muxwire raises, and the status codes a call ends with.

Every exception derives from :class:`MuxwireError`. A call that ended with a status other
than OK raises :class:`RpcError` (or the subclass for its code), whose ``status`` is a
:class:`StatusCode`.
"""

from __future__ import annotations

import enum

__all__ = [
    "StatusCode",
    "ErrorCode",
    "MuxwireError",
    "RpcError",
    "Cancelled",
    "DeadlineExceeded",
    "ResourceExhausted",
    "Unimplemented",
    "Unavailable",
    "ProtocolError",
    "Incomplete",
]


class StatusCode(enum.IntEnum):
    """A call outcome: gRPC's 17 codes, with the same numbers."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class ErrorCode(enum.IntEnum):
    """A connection error code (PROTOCOL.md section 9.2): why a connection was closed, or
    which rule a frame broke."""

    NO_ERROR = 0
    PROTOCOL_ERROR = 1
    INTERNAL_ERROR = 2
    FLOW_CONTROL_ERROR = 3
    FRAME_SIZE_ERROR = 4
    STREAM_STATE_ERROR = 5
    CRC_ERROR = 6
    COMPRESSION_ERROR = 7
    VERSION_ERROR = 8
    HANDSHAKE_ERROR = 9
    METADATA_ERROR = 10
    ENHANCE_YOUR_CALM = 11
    TIMEOUT = 12


class MuxwireError(Exception):
    """The base of every exception muxwire raises."""


class RpcError(MuxwireError):
    """A call ended with a status other than OK.

    Raise it (or a subclass) from a handler to end the call with that status.
    """

    status: StatusCode
    message: str
    details: bytes | None
    retry_safe: bool

    def __init__(
        self,
        status: StatusCode | int,
        message: str = "",
        *,
        details: bytes | None = None,
        retry_safe: bool = False,
    ) -> None:
        code = StatusCode(status)
        if code is StatusCode.OK:
            raise ValueError("an RpcError cannot have status OK")
        super().__init__(f"{code.name}: {message}" if message else code.name)
        self.status = code
        self.message = message
        self.details = details
        self.retry_safe = retry_safe


class _FixedStatus(RpcError):
    """An RpcError whose class fixes its status."""

    _code: StatusCode = StatusCode.UNKNOWN

    def __init__(
        self, message: str = "", *, details: bytes | None = None, retry_safe: bool = False
    ) -> None:
        super().__init__(self._code, message, details=details, retry_safe=retry_safe)


class Cancelled(_FixedStatus):
    """CANCELLED: the call was cancelled (by the caller, or the server gave up)."""

    _code = StatusCode.CANCELLED


class DeadlineExceeded(_FixedStatus):
    """DEADLINE_EXCEEDED: the call's timeout passed before its reply came."""

    _code = StatusCode.DEADLINE_EXCEEDED


class ResourceExhausted(_FixedStatus):
    """RESOURCE_EXHAUSTED: a limit was hit (the message names it)."""

    _code = StatusCode.RESOURCE_EXHAUSTED


class Unimplemented(_FixedStatus):
    """UNIMPLEMENTED: the peer serves no such method."""

    _code = StatusCode.UNIMPLEMENTED


class Unavailable(_FixedStatus):
    """UNAVAILABLE: no connection to the peer (it may be worth retrying)."""

    _code = StatusCode.UNAVAILABLE


class ProtocolError(MuxwireError):
    """A sans-IO :class:`muxwire.Connection` refused a command or could not take input, or
    :func:`muxwire.decode_frame` met a frame that breaks a rule; ``kind`` names why
    (``"blocked"``, ``"unknown_stream"``, ``"buffer_full"``, ``"frame"``, ...), and
    ``code`` is the connection error code a broken frame calls for (``None`` otherwise)."""

    kind: str
    code: ErrorCode | None

    def __init__(self, message: str, kind: str = "protocol", *, code: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.code = None if code is None else ErrorCode(code)


class Incomplete(MuxwireError):
    """:func:`muxwire.decode_frame` was given part of a frame: ``needed`` more bytes at
    least are required (not an error in the bytes: read more and decode again)."""

    needed: int

    def __init__(self, needed: int) -> None:
        super().__init__(f"part of a frame: {needed} more bytes needed at least")
        self.needed = needed


_BY_CODE: dict[StatusCode, type[_FixedStatus]] = {
    cls._code: cls
    for cls in (Cancelled, DeadlineExceeded, ResourceExhausted, Unimplemented, Unavailable)
}


def _status_error(code: int, message: str, details: bytes | None, retry_safe: bool) -> RpcError:
    """The exception for a failed call (the extension raises what this returns)."""
    status = StatusCode(code) if code in StatusCode._value2member_map_ else StatusCode.UNKNOWN
    cls = _BY_CODE.get(status)
    if cls is not None:
        return cls(message, details=details, retry_safe=retry_safe)
    return RpcError(status, message, details=details, retry_safe=retry_safe)
