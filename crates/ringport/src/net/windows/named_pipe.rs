//! Named pipes (`\\.\pipe\NAME`), Windows' local sockets: a listener that always keeps an
//! instance waiting (so a client never finds the name gone), and a client that waits while
//! every instance is busy. Reads and writes are overlapped, through the completion port.

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::fd::{Kind, RawFd, SharedFd};
use crate::driver::op::windows::{ConnectPipe, Open, PathCall};
use crate::driver::Op;
use crate::io::{impl_stream_traits, FdStream};
use std::cell::RefCell;
use std::fmt;
use std::io;
use std::time::{Duration, Instant};
use windows_sys::Win32::Foundation::{GENERIC_READ, GENERIC_WRITE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::Storage::FileSystem::{
    FILE_FLAG_FIRST_PIPE_INSTANCE, FILE_FLAG_OVERLAPPED, OPEN_EXISTING, PIPE_ACCESS_DUPLEX,
};
use windows_sys::Win32::System::Pipes::{
    CreateNamedPipeW, PIPE_REJECT_REMOTE_CLIENTS, PIPE_UNLIMITED_INSTANCES,
};

const ERROR_PIPE_BUSY: i32 = 231;
const BUFFER: u32 = 64 * 1024;

fn wide(name: &str) -> io::Result<Vec<u16>> {
    if name.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a pipe name cannot contain NUL",
        ));
    }
    Ok(name.encode_utf16().chain(Some(0)).collect())
}

/// One server instance of the pipe, overlapped, byte mode, local clients only.
fn create_instance(name: &[u16], first: bool) -> io::Result<SharedFd> {
    let mut mode = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED;
    if first {
        // Fails if another process already owns the name (no squatting).
        mode |= FILE_FLAG_FIRST_PIPE_INSTANCE;
    }
    // SAFETY: the name is NUL-terminated; no security attributes. Creating an instance does
    // no I/O, so it is made on the loop thread, like a socket.
    let h = unsafe {
        CreateNamedPipeW(
            name.as_ptr(),
            mode,
            PIPE_REJECT_REMOTE_CLIENTS, // | PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT
            PIPE_UNLIMITED_INSTANCES,
            BUFFER,
            BUFFER,
            0,
            std::ptr::null(),
        )
    };
    if h == INVALID_HANDLE_VALUE {
        return Err(io::Error::last_os_error());
    }
    Ok(SharedFd::new(RawFd::new(h as usize, Kind::Pipe)))
}

/// The server side of a named pipe.
///
/// ```no_run
/// use ringport::net::{NamedPipeListener, NamedPipeStream};
/// use ringport::io::{AsyncReadExt, AsyncWriteExt};
/// ringport::run(async {
///     let listener = NamedPipeListener::bind(r"\\.\pipe\ringport-demo")?;
///     let mut client = NamedPipeStream::connect(r"\\.\pipe\ringport-demo").await?;
///     let mut server = listener.accept().await?;
///     client.write_all(b"ping".to_vec()).await.0?;
///     let (res, buf) = server.read_exact(vec![0u8; 4]).await.into_parts();
///     res?;
///     assert_eq!(buf, b"ping");
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
pub struct NamedPipeListener {
    name: String,
    wide: Vec<u16>,
    /// The instance clients connect to next: there is always one.
    next: RefCell<SharedFd>,
}

impl fmt::Debug for NamedPipeListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamedPipeListener")
            .field("name", &self.name)
            .finish()
    }
}

impl NamedPipeListener {
    /// Creates the pipe `name` (`\\.\pipe\...`) with its first instance, so clients may
    /// connect before the first `accept`. Fails if the name is taken.
    pub fn bind(name: impl AsRef<str>) -> io::Result<NamedPipeListener> {
        let name = name.as_ref().to_owned();
        let wide = wide(&name)?;
        let first = create_instance(&wide, true)
            .map_err(|e| io::Error::new(e.kind(), format!("{name}: {e}")))?;
        Ok(NamedPipeListener {
            name,
            wide,
            next: RefCell::new(first),
        })
    }

    /// The pipe's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits for a client on the waiting instance (`ConnectNamedPipe`), creates the next
    /// instance, then hands out the connected one: a client arriving in between finds the
    /// next instance (or waits while all are busy), never a missing name.
    pub async fn accept(&self) -> io::Result<NamedPipeStream> {
        let current = self.next.borrow().clone();
        let res = Op::new(ConnectPipe {
            fd: current.clone(),
        })
        .await
        .0
        .result;
        let fresh = create_instance(&self.wide, false)?;
        let connected = self.next.replace(fresh);
        match res {
            Ok(_) => Ok(NamedPipeStream::from_fd(connected)),
            // The instance is spoiled (a client came and went): it was replaced above.
            Err(e) => Err(e),
        }
    }
}

/// A connected named pipe, either end.
pub struct NamedPipeStream {
    inner: FdStream,
}

impl fmt::Debug for NamedPipeStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamedPipeStream")
            .field("fd", self.inner.fd())
            .finish()
    }
}

impl NamedPipeStream {
    fn from_fd(fd: SharedFd) -> NamedPipeStream {
        NamedPipeStream {
            inner: FdStream::other(fd),
        }
    }

    /// Connects to the pipe `name` (the open runs on the pool). While every instance is
    /// busy it waits (`WaitNamedPipeW`, on the pool) and retries, for up to 30 s.
    pub async fn connect(name: impl AsRef<str>) -> io::Result<NamedPipeStream> {
        let name = name.as_ref();
        let wide = wide(name)?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let op = Open {
                path: wide.clone(),
                access: GENERIC_READ | GENERIC_WRITE,
                share: 0,
                disposition: OPEN_EXISTING,
                flags: FILE_FLAG_OVERLAPPED,
            };
            match Op::new(op).await.0.result {
                Ok(h) => {
                    let fd = SharedFd::new(RawFd::new(h as usize, Kind::Pipe));
                    return Ok(NamedPipeStream::from_fd(fd));
                }
                Err(e)
                    if e.raw_os_error() == Some(ERROR_PIPE_BUSY) && Instant::now() < deadline =>
                {
                    let wait = PathCall::WaitPipe {
                        name: wide.clone(),
                        ms: 50,
                    };
                    // A timeout (or the instance going away) just means: try again.
                    let _ = Op::new(wait).await;
                }
                Err(e) => return Err(io::Error::new(e.kind(), format!("{name}: {e}"))),
            }
        }
    }

    /// Reads up to the buffer's capacity; `Ok(0)` when the other end closed.
    pub async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        self.inner.read(buf).await
    }

    /// Writes some of the buffer's bytes.
    pub async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        self.inner.write(buf).await
    }

    /// A pipe has no half-close: the other end sees the end of the stream when this one is
    /// dropped. Does nothing.
    pub async fn shutdown_write(&self) -> io::Result<()> {
        Ok(())
    }
}

impl_stream_traits!(NamedPipeStream);
crate::io::impl_owned_read!(NamedPipeStream);
crate::io::impl_owned_write!(NamedPipeStream => half_close: false);
