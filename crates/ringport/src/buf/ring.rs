//! `BufRing`: a ring of provided buffers the kernel picks from when data arrives, so a pending
//! receive holds no buffer of its own (10,000 idle connections cost no buffer memory).

use std::alloc::{self, Layout};
use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::ops::Deref;
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::atomic::{AtomicU16, Ordering};

/// One slot of the ring, laid out as the kernel's `struct io_uring_buf`. The first slot's
/// `resv` field is the ring's tail.
#[repr(C)]
struct Slot {
    addr: u64,
    len: u32,
    bid: u16,
    resv: u16,
}

const TAIL_OFFSET: usize = 14;

/// A ring of `count` buffers of `buf_len` bytes, registered with the runtime's driver the first
/// time a receive uses it. Buffers come back as [`RingBuf`]s and return to the ring when
/// dropped.
///
/// ```no_run
/// use ringport::buf::BufRing;
/// use ringport::net::TcpStream;
/// # async fn demo(stream: TcpStream) -> std::io::Result<()> {
/// let ring = BufRing::new(256, 4096)?;
/// if let Some(buf) = stream.recv_buf(&ring).await? {
///     println!("got {} bytes", buf.len());
/// } // the buffer goes back to the ring here
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct BufRing {
    inner: Rc<Inner>,
}

/// What a driver records when it registers a ring.
pub(crate) struct Registration {
    pub bgid: u16,
    /// Which driver (its address), so a ring is never used with two.
    pub owner: usize,
    /// Unregisters; `false` when that could not be done, so the memory must not be freed.
    pub unregister: Box<dyn FnOnce() -> bool>,
}

struct Inner {
    slots: NonNull<Slot>,
    slots_layout: Layout,
    bufs: NonNull<u8>,
    bufs_layout: Layout,
    count: u16,
    buf_len: u32,
    tail: Cell<u16>,
    /// Where a consumer emulating the kernel (the poll backend) takes the next buffer.
    head: Cell<u16>,
    in_use: Cell<usize>,
    registration: RefCell<Option<Registration>>,
}

impl fmt::Debug for BufRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufRing")
            .field("count", &self.inner.count)
            .field("buf_len", &self.inner.buf_len)
            .field("in_use", &self.inner.in_use.get())
            .finish()
    }
}

impl BufRing {
    /// `count` buffers (a power of two, at most 32768) of `buf_len` bytes each.
    pub fn new(count: u16, buf_len: usize) -> io::Result<BufRing> {
        if !count.is_power_of_two() || count > 32768 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a buffer ring holds a power of two buffers, at most 32768",
            ));
        }
        let buf_len = u32::try_from(buf_len)
            .ok()
            .filter(|&l| l > 0)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad buffer length"))?;
        let too_big = || io::Error::new(io::ErrorKind::InvalidInput, "buffer ring too large");
        let slots_layout = Layout::array::<Slot>(count as usize)
            .and_then(|l| l.align_to(4096))
            .map_err(|_| too_big())?;
        let total = (count as usize)
            .checked_mul(buf_len as usize)
            .ok_or_else(too_big)?;
        let bufs_layout = Layout::from_size_align(total, 64).map_err(|_| too_big())?;
        // SAFETY: both layouts have a non-zero size.
        let (slots, bufs) =
            unsafe { (alloc::alloc_zeroed(slots_layout), alloc::alloc(bufs_layout)) };
        let slots = NonNull::new(slots.cast::<Slot>())
            .unwrap_or_else(|| alloc::handle_alloc_error(slots_layout));
        let bufs = NonNull::new(bufs).unwrap_or_else(|| alloc::handle_alloc_error(bufs_layout));
        let inner = Inner {
            slots,
            slots_layout,
            bufs,
            bufs_layout,
            count,
            buf_len,
            tail: Cell::new(0),
            head: Cell::new(0),
            in_use: Cell::new(count as usize),
            registration: RefCell::new(None),
        };
        for bid in 0..count {
            inner.recycle(bid);
        }
        Ok(BufRing {
            inner: Rc::new(inner),
        })
    }

    /// How many buffers the ring has.
    pub fn count(&self) -> u16 {
        self.inner.count
    }

    /// The size of each buffer.
    pub fn buf_len(&self) -> usize {
        self.inner.buf_len as usize
    }

    /// How many buffers are out of the ring: held as [`RingBuf`]s (or received and not yet
    /// handed over). The rest are the kernel's to fill.
    pub fn buffers_in_use(&self) -> usize {
        self.inner.in_use.get()
    }

    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // io_uring registers the ring
    pub(crate) fn ring_addr(&self) -> u64 {
        self.inner.slots.as_ptr() as u64
    }

    pub(crate) fn registration(&self) -> Option<(u16, usize)> {
        self.inner
            .registration
            .borrow()
            .as_ref()
            .map(|r| (r.bgid, r.owner))
    }

    pub(crate) fn set_registration(&self, reg: Registration) {
        *self.inner.registration.borrow_mut() = Some(reg);
    }

    /// For a backend that hands buffers out itself: the next free buffer `(bid, address,
    /// length)`, left in the ring until [`consume_free`](Self::consume_free).
    pub(crate) fn peek_free(&self) -> Option<(u16, *mut u8, u32)> {
        let inner = &self.inner;
        let head = inner.head.get();
        if head == inner.tail.get() {
            return None;
        }
        let idx = (head & (inner.count - 1)) as usize;
        // SAFETY: `idx < count`: a slot written by `recycle` (fields read one by one, since
        // slot 0's `resv` is the tail).
        unsafe {
            let slot = inner.slots.as_ptr().add(idx);
            let addr = std::ptr::addr_of!((*slot).addr).read();
            let len = std::ptr::addr_of!((*slot).len).read();
            let bid = std::ptr::addr_of!((*slot).bid).read();
            Some((bid, addr as *mut u8, len))
        }
    }

    /// Takes the buffer `peek_free` showed.
    pub(crate) fn consume_free(&self) {
        self.inner.head.set(self.inner.head.get().wrapping_add(1));
    }

    /// The kernel filled buffer `bid` with `len` bytes: hand it out.
    pub(crate) fn take(&self, bid: u16, len: usize) -> RingBuf {
        self.inner.in_use.set(self.inner.in_use.get() + 1);
        RingBuf {
            ring: self.inner.clone(),
            bid,
            len: len.min(self.inner.buf_len as usize),
        }
    }

    /// The kernel filled buffer `bid` for a receive nobody waits for: put it straight back.
    pub(crate) fn give_back(&self, bid: u16) {
        self.inner.in_use.set(self.inner.in_use.get() + 1);
        self.inner.recycle(bid);
    }
}

impl Inner {
    /// Puts buffer `bid` back in the ring for the kernel to fill.
    fn recycle(&self, bid: u16) {
        assert!(bid < self.count, "buffer id {bid} out of range");
        let tail = self.tail.get();
        let idx = (tail & (self.count - 1)) as usize;
        // SAFETY: `idx < count`, inside the slots allocation; `bid < count`, so the buffer's
        // address is inside the buffers allocation. `resv` is not written: in slot 0 it is the
        // tail the kernel reads.
        unsafe {
            let slot = self.slots.as_ptr().add(idx);
            std::ptr::addr_of_mut!((*slot).addr)
                .write(self.bufs.as_ptr().add(bid as usize * self.buf_len as usize) as u64);
            std::ptr::addr_of_mut!((*slot).len).write(self.buf_len);
            std::ptr::addr_of_mut!((*slot).bid).write(bid);
        }
        let tail = tail.wrapping_add(1);
        self.tail.set(tail);
        // SAFETY: the tail is a u16 at offset 14 of the page-aligned slots allocation, which the
        // kernel reads concurrently: published with a release store after the slot is written.
        let tail_ptr = unsafe {
            self.slots
                .as_ptr()
                .cast::<u8>()
                .add(TAIL_OFFSET)
                .cast::<u16>()
        };
        // SAFETY: as above; the pointer is valid and aligned for a u16 for the ring's life.
        unsafe { AtomicU16::from_ptr(tail_ptr) }.store(tail, Ordering::Release);
        self.in_use.set(self.in_use.get().saturating_sub(1));
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(reg) = self.registration.get_mut().take() {
            if !(reg.unregister)() {
                // Still registered with a live ring: the kernel may still read this memory.
                return;
            }
        }
        // SAFETY: allocated in `new` with these layouts; no op or RingBuf refers to them any
        // more (they hold this Rc) and the kernel no longer has them registered.
        unsafe {
            alloc::dealloc(self.slots.as_ptr().cast(), self.slots_layout);
            alloc::dealloc(self.bufs.as_ptr(), self.bufs_layout);
        }
    }
}

/// A buffer the kernel filled from a [`BufRing`]; it goes back to the ring when dropped.
pub struct RingBuf {
    ring: Rc<Inner>,
    bid: u16,
    len: usize,
}

impl fmt::Debug for RingBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingBuf")
            .field("bid", &self.bid)
            .field("len", &self.len)
            .finish()
    }
}

impl Deref for RingBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        let offset = self.bid as usize * self.ring.buf_len as usize;
        // SAFETY: the kernel wrote `len <= buf_len` bytes into this buffer, which stays out of
        // the ring (nobody else writes it) until this RingBuf drops.
        unsafe { std::slice::from_raw_parts(self.ring.bufs.as_ptr().add(offset), self.len) }
    }
}

impl Drop for RingBuf {
    fn drop(&mut self) {
        self.ring.recycle(self.bid);
    }
}

// SAFETY: the bytes live in the ring's heap allocation, which this `RingBuf` keeps alive (it
// holds the ring) and which does not move when the `RingBuf` does; the buffer stays out of the
// ring, so nobody writes it, until the `RingBuf` drops (after any write it was handed to is
// done: a write in flight owns it). The kernel initialised the first `len` bytes.
unsafe impl super::IoBuf for RingBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
    fn bytes_total(&self) -> usize {
        self.len
    }
}
