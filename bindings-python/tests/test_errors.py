"""The exception classes and the status codes."""

from __future__ import annotations

import pytest

import muxwire
from muxwire._errors import _status_error


def test_seventeen_codes_with_grpc_numbers() -> None:
    assert len(muxwire.StatusCode) == 17
    assert [c.value for c in muxwire.StatusCode] == list(range(17))
    assert int(muxwire.StatusCode.UNAVAILABLE) == 14
    assert int(muxwire.StatusCode.UNAUTHENTICATED) == 16


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (1, muxwire.Cancelled),
        (4, muxwire.DeadlineExceeded),
        (8, muxwire.ResourceExhausted),
        (12, muxwire.Unimplemented),
        (14, muxwire.Unavailable),
    ],
)
def test_common_codes_have_their_own_class(code: int, cls: type[muxwire.RpcError]) -> None:
    err = _status_error(code, "why", b"\x01", True)
    assert type(err) is cls
    assert err.status == code and isinstance(err.status, muxwire.StatusCode)
    assert err.message == "why"
    assert err.details == b"\x01"
    assert err.retry_safe
    assert isinstance(err, muxwire.RpcError) and isinstance(err, muxwire.MuxwireError)
    assert str(err) == f"{muxwire.StatusCode(code).name}: why"


def test_other_codes_are_plain_rpc_errors() -> None:
    err = _status_error(5, "no such thing", None, False)
    assert type(err) is muxwire.RpcError
    assert err.status is muxwire.StatusCode.NOT_FOUND


def test_unknown_numbers_become_unknown() -> None:
    assert _status_error(99, "", None, False).status is muxwire.StatusCode.UNKNOWN


def test_ok_is_not_an_error() -> None:
    with pytest.raises(ValueError, match="OK"):
        muxwire.RpcError(muxwire.StatusCode.OK, "fine")


def test_protocol_error_is_a_muxwire_error_but_no_rpc_error() -> None:
    assert issubclass(muxwire.ProtocolError, muxwire.MuxwireError)
    assert not issubclass(muxwire.ProtocolError, muxwire.RpcError)
