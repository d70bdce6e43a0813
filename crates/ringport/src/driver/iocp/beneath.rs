//! The pool's half of an open beneath a directory (`fs::OpenOptions::open_at` with
//! `resolve_beneath`; the rules are in `fs/windows/beneath.rs`): the open of
//! `\\?\<directory's final path>\<relative path>`, then the check on the handle. The result
//! is a handle, or `-code`: `ERROR_NOT_SAME_DEVICE` (Windows' EXDEV) when the file lies
//! outside the directory, `ERROR_CANT_RESOLVE_FILENAME` (its ELOOP) when `no_symlinks` met a
//! link or junction.

use windows_sys::Win32::Foundation::{CloseHandle, GetLastError, HANDLE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, GetFileInformationByHandle, GetFinalPathNameByHandleW, BY_HANDLE_FILE_INFORMATION,
    FILE_ATTRIBUTE_REPARSE_POINT, FILE_FLAG_BACKUP_SEMANTICS, FILE_FLAG_OPEN_REPARSE_POINT,
    FILE_NAME_NORMALIZED, VOLUME_NAME_DOS,
};

/// The file lies outside the directory.
pub(crate) const ERROR_NOT_SAME_DEVICE: i32 = 17;
/// A link or junction where none may be.
pub(crate) const ERROR_CANT_RESOLVE_FILENAME: i32 = 1921;

/// The arguments, borrowed from the op for the length of the call.
pub(super) struct Request<'a> {
    pub dir: HANDLE,
    pub path: &'a [u16],
    pub access: u32,
    pub share: u32,
    pub disposition: u32,
    pub flags: u32,
    pub beneath: bool,
    pub no_symlinks: bool,
}

fn last_error() -> i32 {
    // SAFETY: reads the calling thread's last error.
    -(unsafe { GetLastError() } as i32)
}

/// Opens and checks; a handle or `-code`.
pub(super) fn open(req: Request<'_>) -> i32 {
    let root = match final_path(req.dir) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let mut full = root.clone();
    if !req.path.is_empty() {
        full.push(u16::from(b'\\'));
        full.extend_from_slice(req.path);
    }
    full.push(0);
    let mut flags = req.flags | FILE_FLAG_BACKUP_SEMANTICS;
    if req.no_symlinks {
        flags |= FILE_FLAG_OPEN_REPARSE_POINT;
    }
    // SAFETY: `full` is NUL-terminated UTF-16 and outlives the call; no security attributes
    // and no template handle.
    let h = unsafe {
        CreateFileW(
            full.as_ptr(),
            req.access,
            req.share,
            std::ptr::null(),
            req.disposition,
            flags,
            std::ptr::null_mut(),
        )
    };
    if h == INVALID_HANDLE_VALUE {
        return last_error();
    }
    let verdict = if req.beneath {
        check(h, &root, &full[..full.len() - 1], req.no_symlinks)
    } else {
        0
    };
    if verdict != 0 {
        // SAFETY: `h` was opened above and is not used after this.
        unsafe { CloseHandle(h) };
        return verdict;
    }
    // Handles have 32 significant bits (shared with 32-bit processes): the value fits.
    h as usize as i32
}

/// 0 when the handle `h` (opened as `asked`) lies beneath `root`, and with `no_symlinks`
/// exactly at `asked`; else `-code`.
fn check(h: HANDLE, root: &[u16], asked: &[u16], no_symlinks: bool) -> i32 {
    if no_symlinks {
        // SAFETY: a plain struct, written by the call below.
        let mut info: BY_HANDLE_FILE_INFORMATION = unsafe { std::mem::zeroed() };
        // SAFETY: `h` is open; `info` is writable.
        if unsafe { GetFileInformationByHandle(h, &mut info) } == 0 {
            return last_error();
        }
        if info.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT != 0 {
            return -ERROR_CANT_RESOLVE_FILENAME;
        }
    }
    let got = match final_path(h) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if no_symlinks {
        // A link or junction anywhere on the way makes the final path differ from the one
        // asked for (an 8.3 short name does too: refused, the safe side).
        return match eq_ignore_case(&got, asked) {
            true => 0,
            false => -ERROR_CANT_RESOLVE_FILENAME,
        };
    }
    let inside = eq_ignore_case(&got, root)
        || (got.len() > root.len()
            && got[root.len()] == u16::from(b'\\')
            && eq_ignore_case(&got[..root.len()], root));
    match inside {
        true => 0,
        false => -ERROR_NOT_SAME_DEVICE,
    }
}

/// ASCII case folding, as NTFS compares most names (a non-ASCII difference in case is
/// refused, the safe side).
fn eq_ignore_case(a: &[u16], b: &[u16]) -> bool {
    let fold = |c: u16| match c {
        0x61..=0x7a => c - 0x20,
        _ => c,
    };
    a.len() == b.len() && a.iter().zip(b).all(|(&x, &y)| fold(x) == fold(y))
}

/// The handle's path with every link resolved (`\\?\C:\...`), without a trailing `\`.
fn final_path(h: HANDLE) -> Result<Vec<u16>, i32> {
    let mut buf = vec![0u16; 512];
    loop {
        // SAFETY: `buf` is writable for `buf.len()` units.
        let n = unsafe {
            GetFinalPathNameByHandleW(
                h,
                buf.as_mut_ptr(),
                buf.len() as u32,
                FILE_NAME_NORMALIZED | VOLUME_NAME_DOS,
            )
        } as usize;
        if n == 0 {
            return Err(last_error());
        }
        if n < buf.len() {
            buf.truncate(n);
            while buf.last() == Some(&u16::from(b'\\')) {
                buf.pop();
            }
            return Ok(buf);
        }
        buf.resize(n + 1, 0);
    }
}
