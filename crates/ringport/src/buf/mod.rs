//! Memory handed to the kernel: the buffer traits, `BufResult`, `Slice` and `AlignedBuf`.
//!
//! An operation takes its buffer by value and hands it back with the result, so the kernel can
//! write into it after the future that started the operation was dropped. That is why the traits
//! below promise a *stable* address: the buffer's bytes must not move when the value is moved.

mod aligned;
mod ring;
mod slice;

pub use aligned::AlignedBuf;
pub(crate) use ring::Registration;
pub use ring::{BufRing, RingBuf};
pub use slice::Slice;

use std::io;
use std::ops::{Bound, RangeBounds};

/// The result of an operation that owned a buffer: the outcome, and the buffer handed back.
///
/// The buffer comes back whatever happened, so an error never loses the memory (or the bytes
/// already in it).
///
/// ```no_run
/// use ringport::buf::BufResult;
/// # async fn demo(file: ringport::fs::File) {
/// let BufResult(res, buf) = file.read_at(vec![0u8; 4096], 0).await;
/// let n = res.expect("read");
/// println!("read {n} bytes: {:?}", &buf[..n]);
/// # }
/// ```
#[must_use = "the result says whether the operation worked, and the buffer comes back with it"]
#[derive(Debug)]
pub struct BufResult<T, B>(pub io::Result<T>, pub B);

impl<T, B> BufResult<T, B> {
    /// Splits the result into a plain tuple.
    pub fn into_parts(self) -> (io::Result<T>, B) {
        (self.0, self.1)
    }

    /// Maps the success value, keeping the buffer.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> BufResult<U, B> {
        BufResult(self.0.map(f), self.1)
    }

    /// Maps the buffer, keeping the result.
    pub fn map_buf<C>(self, f: impl FnOnce(B) -> C) -> BufResult<T, C> {
        BufResult(self.0, f(self.1))
    }
}

impl<T, B> From<BufResult<T, B>> for (io::Result<T>, B) {
    fn from(r: BufResult<T, B>) -> Self {
        r.into_parts()
    }
}

/// A buffer the kernel may read from while an operation is in flight.
///
/// # Safety
///
/// `stable_ptr` must point at `bytes_total()` bytes of memory owned by the value, of which the
/// first `bytes_init()` are initialised, and that memory must stay valid and **at the same
/// address** when the value is moved (it lives on the heap or is `'static`), until the value is
/// dropped or mutated through its own API. The driver relies on this: a cancelled operation's
/// buffer is moved into the driver while the kernel may still be using it. Inline arrays
/// therefore cannot implement this trait.
pub unsafe trait IoBuf: Unpin + 'static {
    /// A pointer to the first byte.
    fn stable_ptr(&self) -> *const u8;

    /// How many bytes are initialised (for a write, how many are written).
    fn bytes_init(&self) -> usize;

    /// How many bytes the buffer can hold (for a read, how many may be read).
    fn bytes_total(&self) -> usize;

    /// A view of part of the buffer, to read into or write from; `into_inner` gives it back.
    ///
    /// # Panics
    ///
    /// When the range goes past `bytes_total()` or starts after it ends.
    fn slice(self, range: impl RangeBounds<usize>) -> Slice<Self>
    where
        Self: Sized,
    {
        let begin = match range.start_bound() {
            Bound::Included(&n) => n,
            Bound::Excluded(&n) => n.checked_add(1).expect("range start overflows"),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&n) => n.checked_add(1).expect("range end overflows"),
            Bound::Excluded(&n) => n,
            Bound::Unbounded => self.bytes_total(),
        };
        assert!(
            begin <= end,
            "slice starts at {begin} after it ends at {end}"
        );
        assert!(
            end <= self.bytes_total(),
            "slice end {end} is past the buffer's capacity {}",
            self.bytes_total()
        );
        Slice::new(self, begin, end)
    }
}

/// A buffer the kernel may write into while an operation is in flight.
///
/// # After a read
///
/// A read (or receive) of `n` bytes into a buffer at position `p` (0 for the whole buffer,
/// [`Slice::begin`] for a slice) leaves its initialised length at exactly `p + n`: a read
/// never leaves stale bytes past what it read. Reads fill up to [`bytes_total`], the
/// capacity, whatever the length was before, so a reused `Vec` needs no `clear()`:
///
/// ```
/// use ringport::buf::IoBufMut;
/// let mut buf = b"first long message".to_vec();
/// // What a read of 1 byte ("x") into the whole buffer does:
/// unsafe {
///     buf.stable_mut_ptr().write(b'x');
///     buf.set_init(1);
/// }
/// assert_eq!(buf, b"x"); // not "xirst long message"
/// ```
///
/// A failed read leaves the buffer as it was. Buffers whose length cannot change
/// (`Box<[u8]>`) keep every byte initialised: only the first `n` are the read's, as the
/// returned count says. [`Slice`]s pass the rule on to the buffer they view (bytes of the
/// buffer after the slice's read are dropped from its length; a gap before a slice that
/// starts past the initialised part is zeroed).
///
/// [`bytes_total`]: IoBuf::bytes_total
///
/// # Safety
///
/// As for [`IoBuf`]; moreover `stable_mut_ptr` must point at the same memory as `stable_ptr`,
/// writable for `bytes_total()` bytes.
pub unsafe trait IoBufMut: IoBuf {
    /// A mutable pointer to the first byte.
    fn stable_mut_ptr(&mut self) -> *mut u8;

    /// Sets the initialised length to exactly `pos` (buffers of a fixed length stay whole):
    /// what an operation calls after the kernel wrote `pos` bytes from the start.
    ///
    /// # Safety
    ///
    /// The first `pos` bytes must really be initialised, and `pos <= bytes_total()`.
    unsafe fn set_init(&mut self, pos: usize);
}

// SAFETY: a Vec's bytes live on the heap and do not move when the Vec is moved; the first
// `len` are initialised, `capacity` are allocated.
unsafe impl IoBuf for Vec<u8> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}

// SAFETY: as for `IoBuf`; `as_mut_ptr` points at the same heap allocation.
unsafe impl IoBufMut for Vec<u8> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, pos: usize) {
        // SAFETY: the caller promises the first `pos <= capacity` bytes are initialised.
        unsafe { self.set_len(pos) };
    }
}

// SAFETY: a boxed slice's bytes live on the heap, all of them initialised.
unsafe impl IoBuf for Box<[u8]> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: as for `IoBuf`; the whole slice is writable.
unsafe impl IoBufMut for Box<[u8]> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, _pos: usize) {}
}

// SAFETY: 'static memory never moves and is always initialised.
unsafe impl IoBuf for &'static [u8] {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: as for `&'static [u8]`.
unsafe impl IoBuf for &'static str {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: a String is a Vec<u8>; writes only ever read from it.
unsafe impl IoBuf for String {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

#[cfg(feature = "bytes")]
mod bytes_impls {
    use super::{IoBuf, IoBufMut};

    // SAFETY: `Bytes` points at reference-counted heap or 'static memory that does not move.
    unsafe impl IoBuf for bytes::Bytes {
        fn stable_ptr(&self) -> *const u8 {
            self.as_ptr()
        }
        fn bytes_init(&self) -> usize {
            self.len()
        }
        fn bytes_total(&self) -> usize {
            self.len()
        }
    }

    // SAFETY: `BytesMut` owns a heap allocation that does not move with the value.
    unsafe impl IoBuf for bytes::BytesMut {
        fn stable_ptr(&self) -> *const u8 {
            self.as_ptr()
        }
        fn bytes_init(&self) -> usize {
            self.len()
        }
        fn bytes_total(&self) -> usize {
            self.capacity()
        }
    }

    // SAFETY: as above; the spare capacity is writable.
    unsafe impl IoBufMut for bytes::BytesMut {
        fn stable_mut_ptr(&mut self) -> *mut u8 {
            self.as_mut_ptr()
        }
        unsafe fn set_init(&mut self, pos: usize) {
            // SAFETY: the caller promises the first `pos <= capacity` bytes are initialised.
            unsafe { self.set_len(pos) };
        }
    }
}
