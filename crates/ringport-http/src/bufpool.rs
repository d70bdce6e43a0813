//! Pooled byte buffers for a loop thread: a response head with a small file body after it, a
//! request's bytes while it is parsed. Buffers come in three sizes and a few of each are kept
//! for reuse, so the hot path allocates none and idle connections hold none.

use std::cell::RefCell;

/// The capacities handed out: a request or a small response; a 16 KiB body and its head; a
/// 64 KiB body and its head.
const CLASSES: [usize; 3] = [4 * 1024, 20 * 1024, 68 * 1024];
/// Idle buffers kept per class (about 3.3 MiB at most per loop thread). The small class keeps
/// the most: every connection busy in a turn holds one for its request and one for its
/// response head, and with 100 keep-alive connections answered per turn a pool of 24 left
/// most of them to `malloc` (4 KiB blocks, past glibc's thread cache).
const KEEP: [usize; 3] = [256, 24, 24];

thread_local! {
    static FREE: RefCell<[Vec<Vec<u8>>; 3]> = const { RefCell::new([Vec::new(), Vec::new(), Vec::new()]) };
}

/// An empty buffer with room for at least `len` bytes: pooled when a class fits it.
pub(crate) fn take(len: usize) -> Vec<u8> {
    let Some(class) = CLASSES.iter().position(|&c| c >= len) else {
        return Vec::with_capacity(len);
    };
    let reused = FREE.with(|f| f.borrow_mut()[class].pop());
    reused.unwrap_or_else(|| Vec::with_capacity(CLASSES[class]))
}

/// Gives a buffer back (kept if its capacity is exactly a class's and the class has room).
pub(crate) fn give(mut buf: Vec<u8>) {
    let Some(class) = CLASSES.iter().position(|&c| c == buf.capacity()) else {
        return;
    };
    buf.clear();
    let _ = FREE.try_with(|f| {
        let mut f = f.borrow_mut();
        if f[class].len() < KEEP[class] {
            f[class].push(buf);
        }
    });
}
