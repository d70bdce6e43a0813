//! The pool: threads for the calls with no overlapped form (opens, metadata, flushes, path
//! calls, closes, reads and writes on handles opened without `FILE_FLAG_OVERLAPPED`).
//!
//! A job is the op's key, its slot's OVERLAPPED and a [`Call`] of raw arguments into memory
//! the op owns, so queuing one allocates nothing in steady state. The thread writes the result
//! into the slot and posts the slot's OVERLAPPED to the port (libuv's
//! `POST_COMPLETION_FOR_REQ`): every completion, whatever its source, comes through the one
//! port. A queued job can be withdrawn; a running one finishes.

use super::port::{Port, KEY_DETACHED, KEY_POOL};
use super::Ov;
use crate::driver::fd::RawFd;
use crate::driver::op::windows::{FileCallKind, FileStat};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use windows_sys::Win32::Foundation::{CloseHandle, GetLastError, HANDLE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::Storage::FileSystem::{
    CreateDirectoryW, CreateFileW, DeleteFileW, FileAllocationInfo, FileEndOfFileInfo,
    FlushFileBuffers, GetFileInformationByHandle, MoveFileExW, ReadFile, RemoveDirectoryW,
    SetFileInformationByHandle, WriteFile, BY_HANDLE_FILE_INFORMATION, FILE_ALLOCATION_INFO,
    FILE_END_OF_FILE_INFO, FILE_FLAG_BACKUP_SEMANTICS, FILE_FLAG_OPEN_REPARSE_POINT,
    FILE_READ_ATTRIBUTES, FILE_SHARE_DELETE, FILE_SHARE_READ, FILE_SHARE_WRITE,
    MOVEFILE_REPLACE_EXISTING, OPEN_EXISTING,
};
use windows_sys::Win32::System::IO::OVERLAPPED;

/// A blocking call with raw arguments.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Call {
    Open {
        path: *const u16,
        access: u32,
        share: u32,
        disposition: u32,
        flags: u32,
    },
    /// A path relative to an open directory, kept beneath it (`iocp/beneath.rs`).
    OpenBeneath {
        dir: usize,
        path: *const u16,
        len: usize,
        access: u32,
        share: u32,
        disposition: u32,
        flags: u32,
        beneath: bool,
        no_symlinks: bool,
    },
    Close {
        fd: RawFd,
    },
    File {
        handle: usize,
        call: FileCallKind,
    },
    StatHandle {
        handle: usize,
        out: *mut FileStat,
    },
    StatPath {
        path: *const u16,
        follow: bool,
        out: *mut FileStat,
    },
    Rename {
        from: *const u16,
        to: *const u16,
    },
    Remove {
        path: *const u16,
        dir: bool,
    },
    Mkdir {
        path: *const u16,
    },
    /// `WaitNamedPipeW`: until an instance of the pipe is free (or `ms` pass).
    WaitPipe {
        name: *const u16,
        ms: u32,
    },
    /// A read or write on a handle without `FILE_FLAG_OVERLAPPED` (its own position).
    ReadSync {
        handle: usize,
        buf: *mut u8,
        len: u32,
    },
    WriteSync {
        handle: usize,
        buf: *const u8,
        len: u32,
    },
}

// SAFETY: the pointers refer to memory owned by the operation (heap), which the driver keeps
// alive until the job's packet is reaped, exactly as for an overlapped call.
unsafe impl Send for Call {}

/// `-GetLastError()`, or `-code` for a plain code.
fn last_error() -> i32 {
    // SAFETY: reads the calling thread's last error.
    -(unsafe { GetLastError() } as i32)
}

fn check(ok: i32) -> i32 {
    if ok == 0 {
        last_error()
    } else {
        0
    }
}

impl Call {
    /// Runs the call (it may block): bytes, a handle, 0, or `-code`.
    pub fn run(self) -> i32 {
        use Call::*;
        // SAFETY: in every arm the arguments obey the operation contract: pointers are valid
        // for the lengths given (paths NUL-terminated) and stay valid until the result is
        // delivered; handles stay open because the operation holds them.
        unsafe {
            match self {
                Open {
                    path,
                    access,
                    share,
                    disposition,
                    flags,
                } => {
                    let h = CreateFileW(
                        path,
                        access,
                        share,
                        std::ptr::null(),
                        disposition,
                        flags,
                        std::ptr::null_mut(),
                    );
                    if h == INVALID_HANDLE_VALUE {
                        last_error()
                    } else {
                        // Handles have 32 significant bits (they are shared with 32-bit
                        // processes), so the value fits a completion's result.
                        h as usize as i32
                    }
                }
                OpenBeneath {
                    dir,
                    path,
                    len,
                    access,
                    share,
                    disposition,
                    flags,
                    beneath,
                    no_symlinks,
                } => super::beneath::open(super::beneath::Request {
                    dir: dir as HANDLE,
                    path: std::slice::from_raw_parts(path, len),
                    access,
                    share,
                    disposition,
                    flags,
                    beneath,
                    no_symlinks,
                }),
                Close { fd } => fd.close_now(),
                File { handle, call } => file_call(handle as HANDLE, call),
                StatHandle { handle, out } => stat_handle(handle as HANDLE, &mut *out),
                StatPath { path, follow, out } => {
                    let mut flags = FILE_FLAG_BACKUP_SEMANTICS;
                    if !follow {
                        flags |= FILE_FLAG_OPEN_REPARSE_POINT;
                    }
                    let share = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;
                    let h = CreateFileW(
                        path,
                        FILE_READ_ATTRIBUTES,
                        share,
                        std::ptr::null(),
                        OPEN_EXISTING,
                        flags,
                        std::ptr::null_mut(),
                    );
                    if h == INVALID_HANDLE_VALUE {
                        return last_error();
                    }
                    let rc = stat_handle(h, &mut *out);
                    CloseHandle(h);
                    rc
                }
                Rename { from, to } => check(MoveFileExW(from, to, MOVEFILE_REPLACE_EXISTING)),
                Remove { path, dir: false } => check(DeleteFileW(path)),
                Remove { path, dir: true } => check(RemoveDirectoryW(path)),
                Mkdir { path } => check(CreateDirectoryW(path, std::ptr::null())),
                WaitPipe { name, ms } => {
                    check(windows_sys::Win32::System::Pipes::WaitNamedPipeW(name, ms))
                }
                ReadSync { handle, buf, len } => {
                    let mut n = 0u32;
                    if ReadFile(handle as HANDLE, buf, len, &mut n, std::ptr::null_mut()) == 0 {
                        let code = GetLastError();
                        return super::error::from_code(code, super::error::Reading::Read);
                    }
                    n as i32
                }
                WriteSync { handle, buf, len } => {
                    let mut n = 0u32;
                    if WriteFile(handle as HANDLE, buf, len, &mut n, std::ptr::null_mut()) == 0 {
                        return last_error();
                    }
                    n as i32
                }
            }
        }
    }
}

/// # Safety
///
/// `h` is an open file handle.
unsafe fn file_call(h: HANDLE, call: FileCallKind) -> i32 {
    // SAFETY: `h` is open (the caller's contract); the info structs are valid for their size.
    unsafe {
        match call {
            FileCallKind::Flush => check(FlushFileBuffers(h)),
            FileCallKind::SetLen(len) => {
                let info = FILE_END_OF_FILE_INFO {
                    EndOfFile: len as i64,
                };
                let size = std::mem::size_of_val(&info) as u32;
                check(SetFileInformationByHandle(
                    h,
                    FileEndOfFileInfo,
                    (&info as *const FILE_END_OF_FILE_INFO).cast(),
                    size,
                ))
            }
            FileCallKind::Allocate(len) => {
                let info = FILE_ALLOCATION_INFO {
                    AllocationSize: len as i64,
                };
                let size = std::mem::size_of_val(&info) as u32;
                check(SetFileInformationByHandle(
                    h,
                    FileAllocationInfo,
                    (&info as *const FILE_ALLOCATION_INFO).cast(),
                    size,
                ))
            }
        }
    }
}

/// # Safety
///
/// `h` is an open handle.
unsafe fn stat_handle(h: HANDLE, out: &mut FileStat) -> i32 {
    // SAFETY: a plain struct, written by the call below.
    let mut info: BY_HANDLE_FILE_INFORMATION = unsafe { std::mem::zeroed() };
    // SAFETY: `h` is open; `info` is writable.
    if unsafe { GetFileInformationByHandle(h, &mut info) } == 0 {
        return last_error();
    }
    let time = |t: windows_sys::Win32::Foundation::FILETIME| {
        (u64::from(t.dwHighDateTime) << 32) | u64::from(t.dwLowDateTime)
    };
    *out = FileStat {
        attributes: info.dwFileAttributes,
        size: (u64::from(info.nFileSizeHigh) << 32) | u64::from(info.nFileSizeLow),
        created: time(info.ftCreationTime),
        accessed: time(info.ftLastAccessTime),
        modified: time(info.ftLastWriteTime),
        nlink: info.nNumberOfLinks,
        volume: info.dwVolumeSerialNumber,
        index: (u64::from(info.nFileIndexHigh) << 32) | u64::from(info.nFileIndexLow),
    };
    0
}

/// A slot's OVERLAPPED, sent to a pool thread.
#[derive(Clone, Copy)]
struct OvPtr(*mut Ov);

// SAFETY: the slot stays alive (the driver never frees it while a job is queued or running)
// and the thread touches only its atomic result before posting it.
unsafe impl Send for OvPtr {}

/// The pool; clones share it.
#[derive(Clone)]
pub(crate) struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    work: Condvar,
    exited: Condvar,
    port: Arc<Port>,
    max_threads: usize,
}

struct State {
    /// (key, slot, call); a null slot is a detached job.
    queue: VecDeque<(usize, OvPtr, Call)>,
    threads: usize,
    idle: usize,
    shutdown: bool,
}

const KEEP_ALIVE: Duration = Duration::from_secs(10);

impl Pool {
    pub fn new(max_threads: usize, port: Arc<Port>) -> Pool {
        Pool {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    threads: 0,
                    idle: 0,
                    shutdown: false,
                }),
                work: Condvar::new(),
                exited: Condvar::new(),
                port,
                max_threads: max_threads.max(1),
            }),
        }
    }

    /// Queues op `key`'s call; its result goes into `ov` (null: detached, nobody waits).
    pub fn submit(&self, key: usize, ov: *mut Ov, call: Call) {
        let mut st = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        st.queue.push_back((key, OvPtr(ov), call));
        if st.idle >= st.queue.len() {
            self.inner.work.notify_one();
        } else if st.threads < self.inner.max_threads {
            st.threads += 1;
            drop(st);
            let inner = self.inner.clone();
            let spawned = std::thread::Builder::new()
                .name("ringport-iocp-pool".into())
                .spawn(move || inner.work());
            if spawned.is_err() {
                self.inner
                    .state
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .threads -= 1;
            }
        }
    }

    /// Takes op `key`'s call back if no thread has started it.
    pub fn withdraw(&self, key: usize) -> bool {
        let mut st = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        match st
            .queue
            .iter()
            .position(|(k, ov, _)| *k == key && !ov.0.is_null())
        {
            Some(i) => {
                st.queue.remove(i);
                true
            }
            None => false,
        }
    }

    /// Lets the threads exit once their call returns; waits up to `grace` for them.
    pub fn shutdown(&self, grace: Duration) {
        let mut st = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        st.shutdown = true;
        self.inner.work.notify_all();
        let (st, _) = self
            .inner
            .exited
            .wait_timeout_while(st, grace, |st| st.threads > 0)
            .unwrap_or_else(|e| e.into_inner());
        drop(st);
    }
}

impl Inner {
    fn work(self: Arc<Self>) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some((_key, ov, call)) = st.queue.pop_front() {
                drop(st);
                let res = call.run();
                let posted = if ov.0.is_null() {
                    self.port.post(0, KEY_DETACHED, std::ptr::null())
                } else {
                    // SAFETY: the slot outlives the job (see `OvPtr`); only its atomic result
                    // is written here, and the packet hands the slot back to the loop.
                    unsafe {
                        (*ov.0).pool_result.store(res, Ordering::Release);
                        let raw: *const OVERLAPPED = &(*ov.0).raw;
                        self.port.post(0, KEY_POOL, raw)
                    }
                };
                if let Err(code) = posted {
                    tracing::error!("posting a pool result failed (error {code})");
                }
                st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                continue;
            }
            if st.shutdown {
                break;
            }
            st.idle += 1;
            let (guard, timeout) = self
                .work
                .wait_timeout(st, KEEP_ALIVE)
                .unwrap_or_else(|e| e.into_inner());
            st = guard;
            st.idle -= 1;
            if timeout.timed_out() && st.queue.is_empty() {
                break;
            }
        }
        st.threads -= 1;
        self.exited.notify_all();
    }
}
