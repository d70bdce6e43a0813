//! Winsock's extension functions (`AcceptEx`, `ConnectEx`, `GetAcceptExSockaddrs`,
//! `TransmitFile`), looked up once per process through `SIO_GET_EXTENSION_FUNCTION_POINTER`.

use std::sync::OnceLock;
use windows_sys::core::GUID;
use windows_sys::Win32::Networking::WinSock::{
    WSAGetLastError, WSAIoctl, LPFN_ACCEPTEX, LPFN_CONNECTEX, LPFN_GETACCEPTEXSOCKADDRS,
    LPFN_TRANSMITFILE, SIO_GET_EXTENSION_FUNCTION_POINTER, SOCKET, WSAID_ACCEPTEX, WSAID_CONNECTEX,
    WSAID_GETACCEPTEXSOCKADDRS, WSAID_TRANSMITFILE,
};

/// Looks up one extension function through `socket`; the pointer, or the Winsock error.
fn lookup(socket: SOCKET, guid: GUID) -> Result<usize, u32> {
    let mut ptr: usize = 0;
    let mut bytes = 0u32;
    // SAFETY: the in and out buffers are valid for the sizes given; no overlapped.
    let rc = unsafe {
        WSAIoctl(
            socket,
            SIO_GET_EXTENSION_FUNCTION_POINTER,
            (&guid as *const GUID).cast(),
            std::mem::size_of::<GUID>() as u32,
            (&mut ptr as *mut usize).cast(),
            std::mem::size_of::<usize>() as u32,
            &mut bytes,
            std::ptr::null_mut(),
            None,
        )
    };
    if rc != 0 || ptr == 0 {
        // SAFETY: reads the calling thread's last Winsock error.
        return Err(unsafe { WSAGetLastError() } as u32);
    }
    Ok(ptr)
}

fn cached(cell: &OnceLock<usize>, socket: SOCKET, guid: GUID) -> Result<usize, u32> {
    if let Some(&p) = cell.get() {
        return Ok(p);
    }
    let p = lookup(socket, guid)?;
    Ok(*cell.get_or_init(|| p))
}

macro_rules! ext_fn {
    ($name:ident, $ty:ty, $guid:expr) => {
        pub(crate) fn $name(socket: SOCKET) -> Result<$ty, u32> {
            static CELL: OnceLock<usize> = OnceLock::new();
            let p = cached(&CELL, socket, $guid)?;
            // SAFETY: Winsock returned this pointer for this function's GUID, so it has the
            // function's signature; it stays valid while ws2_32 is loaded (for ever).
            Ok(unsafe { std::mem::transmute::<usize, $ty>(p) })
        }
    };
}

ext_fn!(accept_ex, LPFN_ACCEPTEX, WSAID_ACCEPTEX);
ext_fn!(connect_ex, LPFN_CONNECTEX, WSAID_CONNECTEX);
ext_fn!(
    get_accept_ex_sockaddrs,
    LPFN_GETACCEPTEXSOCKADDRS,
    WSAID_GETACCEPTEXSOCKADDRS
);
ext_fn!(transmit_file, LPFN_TRANSMITFILE, WSAID_TRANSMITFILE);
