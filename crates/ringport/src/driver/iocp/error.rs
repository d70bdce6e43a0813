//! The one place where Windows statuses become ringport results: an `NTSTATUS` from a packet
//! (or a Win32/Winsock code from a call that failed at once) becomes a byte count or
//! `-code`, the code being what `io::Error::from_raw_os_error` understands on Windows.

use windows_sys::Win32::Foundation::{RtlNtStatusToDosError, ERROR_HANDLE_EOF};

/// `ERROR_OPERATION_ABORTED`: ringport's "cancelled" outcome on Windows.
pub(crate) const ABORTED: u32 = 995;
const ERROR_BROKEN_PIPE: u32 = 109;
const ERROR_NO_DATA: u32 = 232;
const ERROR_PIPE_NOT_CONNECTED: u32 = 233;
const ERROR_NETNAME_DELETED: u32 = 64;
const ERROR_CONNECTION_ABORTED: u32 = 1236;

const WSAECONNRESET: u32 = 10054;
const WSAECONNREFUSED: u32 = 10061;
const WSAECONNABORTED: u32 = 10053;
const WSAETIMEDOUT: u32 = 10060;
const WSAENETUNREACH: u32 = 10051;
const WSAEHOSTUNREACH: u32 = 10065;
const WSAENOTCONN: u32 = 10057;
const WSAEADDRINUSE: u32 = 10048;
const WSAEADDRNOTAVAIL: u32 = 10049;
const WSAENOBUFS: u32 = 10055;

/// The value `OVERLAPPED.Internal` holds until the kernel takes the operation: an error
/// status, so a call that failed before reaching the kernel reads as "no packet will come".
pub(crate) const NOT_STARTED: usize = 0xC000_0001; // STATUS_UNSUCCESSFUL

/// Whether a call that failed (not with `ERROR_IO_PENDING`) still queues a packet, judged
/// from the OVERLAPPED's status: only a warning (severity 2: a truncated datagram's
/// `STATUS_BUFFER_OVERFLOW`, a message pipe's `ERROR_MORE_DATA`) means the I/O completed and
/// was queued. An error status, our "never started" value, and `STATUS_PENDING` (which Wine
/// leaves there when a send fails at once with WSAECONNRESET) mean no packet will come.
pub(crate) fn queued_despite_failure(status: usize) -> bool {
    (status as u32) >> 30 == 2
}

/// How a status reads for this kind of operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reading {
    /// A file or pipe read: end of file and a closed pipe's other end are 0 bytes.
    Read,
    /// A datagram receive: truncation keeps the bytes received (as on Unix).
    Datagram,
    /// Anything else.
    Other,
}

/// The result of a completion packet: `bytes`, or `-code`.
pub(crate) fn from_status(status: usize, bytes: u32, reading: Reading) -> i32 {
    let status = status as u32;
    match status {
        0 => ok(bytes),
        // STATUS_BUFFER_OVERFLOW: a datagram larger than the buffer (WSAEMSGSIZE).
        0x8000_0005 if reading == Reading::Datagram => ok(bytes),
        _ if status >> 30 < 2 => ok(bytes),
        _ => from_code(ntstatus_to_code(status), reading),
    }
}

/// The result of a Win32 or Winsock error code from a call that failed at once.
pub(crate) fn from_code(code: u32, reading: Reading) -> i32 {
    let eof = matches!(
        code,
        ERROR_HANDLE_EOF | ERROR_BROKEN_PIPE | ERROR_NO_DATA | ERROR_PIPE_NOT_CONNECTED
    );
    if eof && reading == Reading::Read {
        return 0;
    }
    let code = match code {
        // A reset is not an end of file (compio maps it to Ok(0); libuv, and we, do not).
        ERROR_NETNAME_DELETED => WSAECONNRESET,
        ERROR_CONNECTION_ABORTED => WSAECONNABORTED,
        c => c,
    };
    -(code.min(i32::MAX as u32) as i32)
}

fn ok(bytes: u32) -> i32 {
    bytes.min(i32::MAX as u32) as i32
}

/// An NTSTATUS as the Win32 or Winsock code a user expects (libuv's socket-aware table for
/// the statuses sockets meet, `RtlNtStatusToDosError` for the rest).
fn ntstatus_to_code(status: u32) -> u32 {
    match status {
        0xC000_0120 => ABORTED,                    // STATUS_CANCELLED
        0x8000_000A => ABORTED, // STATUS_HANDLES_CLOSED: closed while pending (Wine)
        0xC000_020D => WSAECONNRESET, // STATUS_CONNECTION_RESET
        0xC000_013C => WSAECONNRESET, // STATUS_REMOTE_DISCONNECT
        0xC000_0241 => WSAECONNABORTED, // STATUS_CONNECTION_ABORTED
        0xC000_013B => WSAECONNABORTED, // STATUS_LOCAL_DISCONNECT
        0xC000_0236 => WSAECONNREFUSED, // STATUS_CONNECTION_REFUSED
        0xC000_00B5 | 0xC000_0102 => WSAETIMEDOUT, // STATUS_IO_TIMEOUT, STATUS_TIMEOUT
        0xC000_023C => WSAENETUNREACH, // STATUS_NETWORK_UNREACHABLE
        0xC000_023D => WSAEHOSTUNREACH, // STATUS_HOST_UNREACHABLE
        0xC000_0140 => WSAENOTCONN, // STATUS_INVALID_CONNECTION
        0xC000_020A => WSAEADDRINUSE, // STATUS_ADDRESS_ALREADY_EXISTS
        0xC000_0238 => WSAEADDRINUSE, // STATUS_ADDRESS_ALREADY_ASSOCIATED
        0xC000_0141 => WSAEADDRNOTAVAIL, // STATUS_INVALID_ADDRESS
        0xC000_009A => WSAENOBUFS, // STATUS_INSUFFICIENT_RESOURCES
        // SAFETY: a plain conversion of a status value.
        s => unsafe { RtlNtStatusToDosError(s as i32) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_once() {
        assert_eq!(from_status(0, 7, Reading::Other), 7);
        assert_eq!(from_status(0xC000_0120, 0, Reading::Other), -995);
        assert_eq!(from_status(0x8000_000A, 0, Reading::Other), -995);
        assert_eq!(from_status(0xC000_0011, 0, Reading::Read), 0); // end of file
        assert_eq!(from_status(0xC000_020D, 0, Reading::Read), -10054);
        assert_eq!(from_status(0x8000_0005, 9, Reading::Datagram), 9);
        assert!(!queued_despite_failure(NOT_STARTED));
        assert!(!queued_despite_failure(0x103)); // STATUS_PENDING
        assert!(queued_despite_failure(0x8000_0005));
        assert_eq!(from_code(64, Reading::Read), -10054);
        assert_eq!(from_code(109, Reading::Read), 0);
        assert_eq!(from_code(109, Reading::Other), -109);
    }
}
