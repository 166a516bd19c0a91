"""The exceptions muxwire raises, and the status codes a call ends with.

Every exception derives from :class:`MuxwireError`. A call that ended with a status other
than OK raises :class:`RpcError` (or the subclass for its code), whose ``status`` is a
:class:`StatusCode`.
"""

from __future__ import annotations

import enum

__all__ = [
    "StatusCode",
    "MuxwireError",
    "RpcError",
    "Cancelled",
    "DeadlineExceeded",
    "ResourceExhausted",
    "Unimplemented",
    "Unavailable",
    "ProtocolError",
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
    """A sans-IO :class:`muxwire.Connection` refused a command or could not take input;
    ``kind`` names why (``"blocked"``, ``"unknown_stream"``, ``"buffer_full"``, ...)."""

    kind: str

    def __init__(self, message: str, kind: str = "protocol") -> None:
        super().__init__(message)
        self.kind = kind


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
