//! `AlignedBuf`: heap memory aligned for `O_DIRECT` I/O.

use super::{IoBuf, IoBufMut};
use std::alloc::{self, Layout};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// The alignment used when none is given: the page size, which every block device accepts.
pub const DEFAULT_ALIGNMENT: usize = 4096;

/// A buffer whose address and capacity are multiples of an alignment, as `O_DIRECT` needs.
///
/// The device's own requirement comes from `File::direct_io_alignment` (Linux; Windows
/// volumes need their sector size, at most 4096 on today's disks); 4096 always works.
///
/// ```
/// use ringport::buf::AlignedBuf;
/// let mut buf = AlignedBuf::zeroed(8192);
/// assert_eq!(buf.as_ptr() as usize % 4096, 0);
/// buf[0] = 7;
/// ```
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    layout: Layout,
    init: usize,
}

// SAFETY: AlignedBuf uniquely owns its allocation, like a Vec<u8>.
unsafe impl Send for AlignedBuf {}
// SAFETY: shared access only reads.
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    /// An empty buffer of `capacity` bytes (rounded up to the alignment), aligned to 4096.
    pub fn new(capacity: usize) -> Self {
        Self::with_alignment(capacity, DEFAULT_ALIGNMENT)
    }

    /// An empty buffer of `capacity` bytes rounded up to `align`, aligned to `align`.
    ///
    /// # Panics
    ///
    /// When `align` is not a power of two or the size overflows.
    pub fn with_alignment(capacity: usize, align: usize) -> Self {
        let layout = Self::layout(capacity, align).expect("aligned buffer too large");
        Self::try_with_alignment(capacity, align)
            .unwrap_or_else(|| alloc::handle_alloc_error(layout))
    }

    /// As [`with_alignment`](Self::with_alignment), but `None` when the memory cannot be had
    /// (or the size overflows), instead of aborting.
    ///
    /// # Panics
    ///
    /// When `align` is not a power of two.
    pub fn try_with_alignment(capacity: usize, align: usize) -> Option<Self> {
        let layout = Self::layout(capacity, align)?;
        // SAFETY: the layout has a non-zero size.
        let ptr = NonNull::new(unsafe { alloc::alloc(layout) })?;
        Some(AlignedBuf {
            ptr,
            layout,
            init: 0,
        })
    }

    fn layout(capacity: usize, align: usize) -> Option<Layout> {
        assert!(
            align.is_power_of_two(),
            "alignment {align} is not a power of two"
        );
        let size = capacity.max(1).checked_next_multiple_of(align)?;
        Layout::from_size_align(size, align).ok()
    }

    /// A buffer of `capacity` zero bytes (rounded up), all initialised, aligned to 4096.
    pub fn zeroed(capacity: usize) -> Self {
        let mut buf = Self::new(capacity);
        buf.resize_zeroed();
        buf
    }

    /// The alignment of address and capacity.
    pub fn alignment(&self) -> usize {
        self.layout.align()
    }

    /// How many bytes the buffer holds at most.
    pub fn capacity(&self) -> usize {
        self.layout.size()
    }

    /// Makes the whole capacity initialised, zeroing the bytes that were not.
    pub fn resize_zeroed(&mut self) {
        let cap = self.capacity();
        // SAFETY: `init..cap` is inside the allocation.
        unsafe {
            self.ptr
                .as_ptr()
                .add(self.init)
                .write_bytes(0, cap - self.init)
        };
        self.init = cap;
    }

    /// Drops the initialised bytes after `len`.
    pub fn truncate(&mut self, len: usize) {
        self.init = self.init.min(len);
    }

    /// Appends bytes.
    ///
    /// # Panics
    ///
    /// When they do not fit in the capacity.
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        assert!(
            data.len() <= self.capacity() - self.init,
            "AlignedBuf is full"
        );
        // SAFETY: the destination range is inside the allocation and does not overlap `data`.
        unsafe {
            std::ptr::copy_nonoverlapping(
                data.as_ptr(),
                self.ptr.as_ptr().add(self.init),
                data.len(),
            )
        };
        self.init += data.len();
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `with_alignment` with this layout.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

impl Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the first `init` bytes are initialised and owned.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.init) }
    }
}

impl DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for `deref`, held mutably.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.init) }
    }
}

impl fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("len", &self.init)
            .field("capacity", &self.capacity())
            .field("alignment", &self.alignment())
            .finish()
    }
}

// SAFETY: the allocation is on the heap and never moves; `init` bytes are initialised.
unsafe impl IoBuf for AlignedBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.init
    }
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}

// SAFETY: as above; the whole capacity is writable.
unsafe impl IoBufMut for AlignedBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }
    unsafe fn set_init(&mut self, pos: usize) {
        self.init = pos.min(self.capacity());
    }
}
