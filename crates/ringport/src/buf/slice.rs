//! `Slice`: part of an owned buffer, handed to an operation and given back whole.

use super::{IoBuf, IoBufMut};
use std::ops::{Deref, DerefMut};

/// A range of an owned buffer. Reads fill it from its start; writes send its initialised part.
///
/// Made by [`IoBuf::slice`]; [`Slice::into_inner`] returns the whole buffer.
#[derive(Debug)]
pub struct Slice<T> {
    buf: T,
    begin: usize,
    end: usize,
}

impl<T: IoBuf> Slice<T> {
    pub(super) fn new(buf: T, begin: usize, end: usize) -> Self {
        Slice { buf, begin, end }
    }

    /// Where the slice starts in the buffer.
    pub fn begin(&self) -> usize {
        self.begin
    }

    /// Where the slice ends in the buffer.
    pub fn end(&self) -> usize {
        self.end
    }

    /// The whole buffer.
    pub fn get_ref(&self) -> &T {
        &self.buf
    }

    /// Gives back the whole buffer.
    pub fn into_inner(self) -> T {
        self.buf
    }
}

impl<T: IoBuf> Deref for Slice<T> {
    type Target = [u8];

    /// The initialised bytes inside the slice.
    fn deref(&self) -> &[u8] {
        let init = self.bytes_init();
        if init == 0 {
            return &[];
        }
        // SAFETY: `begin + init <= buf.bytes_init()`, so these bytes are initialised and owned.
        unsafe { std::slice::from_raw_parts(self.buf.stable_ptr().add(self.begin), init) }
    }
}

impl<T: IoBufMut> DerefMut for Slice<T> {
    fn deref_mut(&mut self) -> &mut [u8] {
        let init = self.bytes_init();
        if init == 0 {
            return &mut [];
        }
        // SAFETY: as for `deref`, and we hold the buffer mutably.
        unsafe { std::slice::from_raw_parts_mut(self.buf.stable_mut_ptr().add(self.begin), init) }
    }
}

// SAFETY: the pointer is inside the inner buffer's stable memory; the counts are clamped to it.
unsafe impl<T: IoBuf> IoBuf for Slice<T> {
    fn stable_ptr(&self) -> *const u8 {
        // SAFETY: `begin <= end <= bytes_total`, so the offset stays inside the allocation.
        unsafe { self.buf.stable_ptr().add(self.begin) }
    }

    fn bytes_init(&self) -> usize {
        self.buf
            .bytes_init()
            .min(self.end)
            .saturating_sub(self.begin)
    }

    fn bytes_total(&self) -> usize {
        self.end - self.begin
    }
}

// SAFETY: as above, writable because the inner buffer is.
unsafe impl<T: IoBufMut> IoBufMut for Slice<T> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        // SAFETY: as for `stable_ptr`.
        unsafe { self.buf.stable_mut_ptr().add(self.begin) }
    }

    unsafe fn set_init(&mut self, pos: usize) {
        // The read rule for the whole buffer: initialised up to exactly `begin + pos`. A gap
        // between the initialised part and `begin` (a slice that starts past it) is zeroed
        // first, so that it never counts as initialised without being so.
        let init = self.buf.bytes_init();
        if init < self.begin {
            // SAFETY: `init..begin` is inside the allocation (`begin <= bytes_total`), and we
            // hold the buffer mutably.
            unsafe {
                self.buf
                    .stable_mut_ptr()
                    .add(init)
                    .write_bytes(0, self.begin - init)
            };
        }
        // SAFETY: the bytes before `begin` are initialised (they were, or were just zeroed),
        // and the caller promises `pos` bytes from `begin` are.
        unsafe { self.buf.set_init(self.begin + pos) };
    }
}
