//! The Windows facts the commands need: the system's version, how paths are confined, and
//! which error codes mean what.

use ringport::BackendInfo;
use std::io;
use std::path::Path;

/// `ERROR_TOO_MANY_OPEN_FILES`, `ERROR_NO_SYSTEM_RESOURCES`, `WSAEMFILE`, `WSAENOBUFS`.
const OUT_OF_HANDLES: [i32; 4] = [4, 1450, 10024, 10055];
/// `WSAEAFNOSUPPORT`.
const WSAEAFNOSUPPORT: i32 = 10047;
/// `ERROR_HANDLE_DISK_FULL`, `ERROR_DISK_FULL`.
const DISK_FULL: [i32; 2] = [39, 112];
/// `ERROR_INVALID_FUNCTION`, `ERROR_NOT_SUPPORTED`, `ERROR_CALL_NOT_IMPLEMENTED`,
/// `ERROR_INVALID_PARAMETER` (what `FileAllocationInfo` gives where it is not implemented,
/// as on Wine 8).
const CANNOT_ALLOCATE: [i32; 4] = [1, 50, 120, 87];

/// `RTL_OSVERSIONINFOW`, as `RtlGetVersion` fills it.
#[repr(C)]
struct OsVersion {
    size: u32,
    major: u32,
    minor: u32,
    build: u32,
    platform: u32,
    service_pack: [u16; 128],
}

#[link(name = "ntdll")]
extern "system" {
    fn RtlGetVersion(info: *mut OsVersion) -> i32;
}

/// The system's version (`RtlGetVersion`, which the compatibility shims do not lie to),
/// with Wine's when running under Wine.
pub fn kernel() -> String {
    let mut v = OsVersion {
        size: std::mem::size_of::<OsVersion>() as u32,
        major: 0,
        minor: 0,
        build: 0,
        platform: 0,
        service_pack: [0; 128],
    };
    // SAFETY: `v` is writable and its size field says how big it is.
    let windows = if unsafe { RtlGetVersion(&mut v) } == 0 {
        format!("Windows {}.{}.{}", v.major, v.minor, v.build)
    } else {
        "Windows (version unknown)".into()
    };
    match wine() {
        Some(wine) => format!("{windows} (Wine {wine})"),
        None => windows,
    }
}

/// Wine's version, when ntdll is Wine's (it exports `wine_get_version`).
fn wine() -> Option<String> {
    use std::os::windows::ffi::OsStrExt;
    let name: Vec<u16> = std::ffi::OsStr::new("ntdll.dll")
        .encode_wide()
        .chain([0])
        .collect();
    #[link(name = "kernel32")]
    extern "system" {
        fn GetModuleHandleW(name: *const u16) -> *mut std::ffi::c_void;
        fn GetProcAddress(
            module: *mut std::ffi::c_void,
            name: *const std::ffi::c_char,
        ) -> *mut std::ffi::c_void;
    }
    // SAFETY: a NUL-terminated name; ntdll is loaded in every process.
    let ntdll = unsafe { GetModuleHandleW(name.as_ptr()) };
    if ntdll.is_null() {
        return None;
    }
    // SAFETY: a NUL-terminated symbol name on a loaded module.
    let f = unsafe { GetProcAddress(ntdll, c"wine_get_version".as_ptr()) };
    if f.is_null() {
        return None;
    }
    // SAFETY: Wine's export has this signature and returns a static NUL-terminated string.
    let text = unsafe {
        let f: unsafe extern "C" fn() -> *const std::ffi::c_char = std::mem::transmute(f);
        std::ffi::CStr::from_ptr(f())
    };
    Some(text.to_string_lossy().into_owned())
}

/// How `resolve_beneath` opens on Windows.
pub fn confinement(_info: &BackendInfo) -> String {
    "a lexical check, the open, then the handle's final path (GetFinalPathNameByHandleW) \
     checked against the root's, on the blocking pool"
        .into()
}

/// A path as the user typed such paths: a canonical path's verbatim prefix (`\\?\C:\...`)
/// dropped when what follows is a plain drive path.
pub fn shown(path: &Path) -> String {
    let text = path.display().to_string();
    match text.strip_prefix(r"\\?\") {
        Some(rest) if rest.as_bytes().get(1) == Some(&b':') => rest.to_string(),
        _ => text,
    }
}

/// Out of handles or socket resources.
pub fn out_of_fds(e: &io::Error) -> bool {
    e.raw_os_error()
        .is_some_and(|c| OUT_OF_HANDLES.contains(&c))
}

/// No IPv6 on this machine.
pub fn no_ipv6(e: &io::Error) -> bool {
    e.raw_os_error() == Some(WSAEAFNOSUPPORT)
}

/// The disk is full.
pub fn disk_full(e: &io::Error) -> bool {
    e.raw_os_error().is_some_and(|c| DISK_FULL.contains(&c))
}

/// The file system cannot reserve space this way.
pub fn cannot_allocate(e: &io::Error) -> bool {
    e.raw_os_error()
        .is_some_and(|c| CANNOT_ALLOCATE.contains(&c))
}

/// Nothing to do: a directory cannot be flushed on Windows (`FlushFileBuffers` wants a
/// handle opened for writing, which a directory never is); NTFS journals the rename itself.
pub async fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// Windows has no SIGPIPE: there a report written to a closed pipe fails its write, and
/// `info` does not yet end quietly on that (it is said in ARCHITECTURE.md).
pub fn end_quietly_when_stdout_closes() {}

/// Nothing to block: console control events go to a handler thread of their own.
pub fn block_stop_signals() -> io::Result<()> {
    Ok(())
}
