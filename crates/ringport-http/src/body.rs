//! `Body`: what a response carries, bytes in memory, a stream of chunks, or a file region.

use bytes::Bytes;
use futures_core::Stream;
use ringport::fs::File;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::rc::Rc;

/// A stream of body chunks. An error ends the response and closes the connection.
pub type BodyStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>>>>;

/// A response body.
///
/// - bytes (`From<&'static str>`, `String`, `Vec<u8>`, `Bytes`): sent with `Content-Length`;
/// - [`Body::stream`]: sent with `Transfer-Encoding: chunked` (HTTP/1.0: until the connection
///   closes);
/// - [`Body::file`]: a region of a file sent with `Content-Length`: up to 64 KiB read in
///   behind the head and sent in the same write, more by the transport's `send_file` (TCP:
///   splice, no copy through user space).
///
/// ```
/// use ringport_http::Body;
/// let body = Body::from("<h1>Hello World!</h1>");
/// assert_eq!(body.len(), Some(21));
/// ```
pub struct Body {
    kind: Kind,
}

pub(crate) enum Kind {
    Bytes(Bytes),
    Stream(BodyStream),
    File {
        file: Rc<File>,
        offset: u64,
        len: u64,
    },
}

impl Body {
    /// No body (`Content-Length: 0`).
    pub fn empty() -> Body {
        Body {
            kind: Kind::Bytes(Bytes::new()),
        }
    }

    /// A body produced chunk by chunk.
    pub fn stream(stream: impl Stream<Item = io::Result<Bytes>> + 'static) -> Body {
        Body {
            kind: Kind::Stream(Box::pin(stream)),
        }
    }

    /// `len` bytes of `file` from `offset` (a `File`, or an `Rc<File>` shared with a cache).
    /// The file must hold them: when it turns out shorter (truncated meanwhile), the
    /// connection is closed once the bytes it has are sent, so the client sees a short body
    /// rather than a misframed one.
    pub fn file(file: impl Into<Rc<File>>, offset: u64, len: u64) -> Body {
        Body {
            kind: Kind::File {
                file: file.into(),
                offset,
                len,
            },
        }
    }

    /// The length, when known before sending (not for streams).
    pub fn len(&self) -> Option<u64> {
        match &self.kind {
            Kind::Bytes(b) => Some(b.len() as u64),
            Kind::File { len, .. } => Some(*len),
            Kind::Stream(_) => None,
        }
    }

    /// Whether the length is known to be zero.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    pub(crate) fn into_kind(self) -> Kind {
        self.kind
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Bytes(b) => f.debug_tuple("Body::Bytes").field(&b.len()).finish(),
            Kind::Stream(_) => f.write_str("Body::Stream"),
            Kind::File { offset, len, .. } => f
                .debug_struct("Body::File")
                .field("offset", offset)
                .field("len", len)
                .finish(),
        }
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Body {
            kind: Kind::Bytes(b),
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Self {
        Body::from(Bytes::from(v))
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Body::from(Bytes::from(s))
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Body::from(Bytes::from_static(s.as_bytes()))
    }
}

impl From<&'static [u8]> for Body {
    fn from(s: &'static [u8]) -> Self {
        Body::from(Bytes::from_static(s))
    }
}

impl From<()> for Body {
    fn from(_: ()) -> Self {
        Body::empty()
    }
}
