//! Cells in shared memory made before the forks: one byte per buyer for its
//! stage, words for a strategy's own state, and stepped mode's turns (a slot per buyer: where it paused, and
//! the semaphore it waits on for its turn).

use std::io;
use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI32, AtomicU8, AtomicU32, AtomicU64, Ordering};

use nix::errno::Errno;
use nix::libc;
use nix::sys::mman::{MapFlags, munmap};
use nix::unistd::{Pid, getpid};

use super::shm::map_anonymous;

/// Atomics in anonymous `MAP_SHARED` memory made before the forks, all 0
/// at first: shared, not private, so a child's writes are not copied away
/// from the parent (or its siblings) by fork. Read as a slice of `A`.
///
/// [`SharedCells`] is one byte per buyer: each buyer writes where it is
/// (see `engine::buyer::Stage`), the parent reads it to say what stuck
/// buyers were stuck on. [`SharedWords`] is 64-bit words, for a strategy
/// that keeps a lock's state in plain shared memory (a ticket counter, a
/// ring of flags, an owner word).
pub struct SharedAtoms<A: Atom> {
    ptr: NonNull<A>,
    len: usize,
}

/// One byte per buyer: see [`SharedAtoms`].
pub type SharedCells = SharedAtoms<AtomicU8>;
/// 64-bit words: see [`SharedAtoms`].
pub type SharedWords = SharedAtoms<AtomicU64>;

/// An atomic integer type, for which zero bytes are a valid value and
/// whose layout is that of its integer (sealed: the floor's own).
pub trait Atom: atom::Sealed {}
impl Atom for AtomicU8 {}
impl Atom for AtomicU64 {}
mod atom {
    pub trait Sealed {}
    impl Sealed for std::sync::atomic::AtomicU8 {}
    impl Sealed for std::sync::atomic::AtomicU64 {}
}

impl<A: Atom> SharedAtoms<A> {
    /// `len` atomics, all 0.
    ///
    /// # Errors
    /// Any error of `mmap`.
    pub fn new(len: usize) -> io::Result<Self> {
        let ptr = map_anonymous(Self::bytes(len), MapFlags::MAP_SHARED)?;
        Ok(SharedAtoms {
            ptr: ptr.cast(),
            len,
        })
    }

    /// Where the mapping starts (the same address in every process forked
    /// after it was made).
    pub fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    fn bytes(len: usize) -> NonZeroUsize {
        NonZeroUsize::new((len * std::mem::size_of::<A>()).max(1)).expect("at least one byte")
    }
}

impl<A: Atom> std::ops::Deref for SharedAtoms<A> {
    type Target = [A];

    fn deref(&self) -> &[A] {
        // SAFETY: the mapping holds `len` zero-initialised, page-aligned
        // `A`s for the life of `self`; an `Atom` has the layout of its
        // integer and every bit pattern (zero included) is valid; all
        // access goes through atomics, so sharing with other processes is
        // no data race.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl SharedCells {
    /// Sets cell `i`.
    pub fn set(&self, i: usize, value: u8) {
        self[i].store(value, Ordering::Relaxed);
    }

    /// Reads cell `i`.
    pub fn get(&self, i: usize) -> u8 {
        self[i].load(Ordering::Relaxed)
    }
}

impl<A: Atom> Drop for SharedAtoms<A> {
    fn drop(&mut self) {
        // SAFETY: `ptr` is the start of a live mapping of `bytes(len)`
        // bytes made in `new`; no reference into it outlives `self`.
        let _ = unsafe { munmap(self.ptr.cast(), Self::bytes(self.len).get()) };
    }
}

/// One buyer's slot of [`Turns`]: its turn semaphore, and where it paused.
#[repr(C)]
struct TurnSlot {
    turn: libc::sem_t,
    /// `(pauses so far << 8) | point`: changes at every pause.
    at: AtomicU32,
    /// Which of the strategy's calls the buyer is in (0: none, its own
    /// code): set by the buyer around `lock`, `unlock` and `transact`, and
    /// 0 while it waits for a turn. Where system calls are pause points,
    /// only calls made while this is not 0 are.
    section: AtomicU32,
    /// The buyer's seccomp listener, for the parent to take: 0 not yet,
    /// a descriptor number (> 0), or minus the error that kept the buyer
    /// from installing its filter.
    listener: AtomicI32,
}

/// Stepped mode's turns, one slot per buyer in anonymous `MAP_SHARED`
/// memory made before the forks: a buyer announces where it paused and
/// waits on its own process-shared semaphore until the parent (the
/// scheduler) posts it. No descriptor per buyer.
pub struct Turns {
    ptr: NonNull<TurnSlot>,
    len: usize,
    creator: Pid,
    calls: bool,
}

impl Turns {
    /// `len` slots, every semaphore at 0 (no turn yet); with `calls`, the
    /// buyers also stop at their strategy's system calls (see
    /// [`super::seccomp`]).
    ///
    /// # Errors
    /// Any error of `mmap` or `sem_init`.
    pub fn new(len: usize, calls: bool) -> io::Result<Self> {
        let bytes = NonZeroUsize::new(len.max(1) * std::mem::size_of::<TurnSlot>())
            .expect("at least one slot");
        let ptr = map_anonymous(bytes, MapFlags::MAP_SHARED)?;
        let this = Turns {
            ptr: ptr.cast(),
            len,
            creator: getpid(),
            calls,
        };
        for i in 0..len {
            // SAFETY: slot `i` lies in the zero-filled, page-aligned mapping
            // (TurnSlot's alignment divides the page size); nobody uses it yet.
            let rc = unsafe { libc::sem_init(&raw mut (*this.ptr.as_ptr().add(i)).turn, 1, 0) };
            Errno::result(rc)?;
        }
        Ok(this)
    }

    fn slot(&self, i: usize) -> *mut TurnSlot {
        assert!(i < self.len, "slot {i} of {}", self.len);
        // SAFETY: `i < len`, inside the mapping, which lives as long as self.
        unsafe { self.ptr.as_ptr().add(i) }
    }

    fn at_cell(&self, i: usize) -> &AtomicU32 {
        // SAFETY: the slot is mapped for the life of `self`; AtomicU32 is
        // valid for any bit pattern and only accessed atomically.
        unsafe { &(*self.slot(i)).at }
    }

    /// A buyer's handle on the turns, to keep in a static for the rest of
    /// its life (see [`TurnsView`]).
    pub fn view(&self) -> TurnsView {
        TurnsView {
            ptr: self.ptr,
            len: self.len,
            calls: self.calls,
        }
    }

    /// Whether the buyers stop at their strategy's system calls.
    pub fn calls(&self) -> bool {
        self.calls
    }

    /// Where the mapping starts (the same address in every buyer).
    pub fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// Where buyer `i` last paused (0: not yet).
    pub fn at(&self, i: usize) -> u32 {
        self.at_cell(i).load(Ordering::SeqCst)
    }

    /// Which of its strategy's calls buyer `i` is in (0: none).
    pub fn section(&self, i: usize) -> u32 {
        // SAFETY: the slot is mapped for the life of `self`; atomics only.
        unsafe { &(*self.slot(i)).section }.load(Ordering::SeqCst)
    }

    /// Buyer `i`'s listener as it announced it (see [`TurnSlot`]).
    pub fn listener(&self, i: usize) -> i32 {
        // SAFETY: the slot is mapped for the life of `self`; atomics only.
        unsafe { &(*self.slot(i)).listener }.load(Ordering::SeqCst)
    }

    /// Gives buyer `i` its turn (`sem_post`).
    ///
    /// # Errors
    /// Any error of `sem_post`.
    pub fn go(&self, i: usize) -> io::Result<()> {
        // SAFETY: the semaphore was initialised by `new` and stays mapped.
        let rc = unsafe { libc::sem_post(&raw mut (*self.slot(i)).turn) };
        Errno::result(rc).map(drop).map_err(Into::into)
    }
}

/// A copy of [`Turns`]' mapping for a buyer process, without ownership.
/// Made in the child from the `Turns` its parent created before the fork:
/// the child ends with `_exit` and never drops that `Turns`, so the mapping
/// outlives every use of the view.
#[derive(Clone, Copy)]
pub struct TurnsView {
    ptr: NonNull<TurnSlot>,
    len: usize,
    calls: bool,
}

// SAFETY: the view only reaches shared memory through atomics and
// process-shared semaphores, which are safe to use from any thread.
unsafe impl Send for TurnsView {}

impl TurnsView {
    fn slot(&self, i: usize) -> *mut TurnSlot {
        assert!(i < self.len, "slot {i} of {}", self.len);
        // SAFETY: `i < len`, inside the mapping, valid for this process's
        // life (see the type's doc).
        unsafe { self.ptr.as_ptr().add(i) }
    }

    /// Whether this run's buyers stop at their strategy's system calls.
    pub fn calls(&self) -> bool {
        self.calls
    }

    /// In buyer `i`: says which of its strategy's calls it is in (0:
    /// none).
    pub fn set_section(&self, i: usize, section: u32) {
        // SAFETY: the slot is mapped for this process's life; atomics only.
        unsafe { &(*self.slot(i)).section }.store(section, Ordering::SeqCst);
    }

    /// In buyer `i`: announces its listener (or minus an error).
    pub fn set_listener(&self, i: usize, listener: i32) {
        // SAFETY: the slot is mapped for this process's life; atomics only.
        unsafe { &(*self.slot(i)).listener }.store(listener, Ordering::SeqCst);
    }

    /// In buyer `i`: announces `value` (see [`TurnSlot`]) and waits for a
    /// turn (`sem_wait`, retried on `EINTR`). The wait is the engine's,
    /// not the strategy's: no section while it lasts.
    ///
    /// # Errors
    /// Any error of `sem_wait` other than `EINTR`.
    pub fn pause(&self, i: usize, value: u32) -> io::Result<()> {
        let slot = self.slot(i);
        // SAFETY: the slot is mapped for this process's life; atomics only.
        let section = unsafe { &(*slot).section }.swap(0, Ordering::SeqCst);
        // SAFETY: as above; AtomicU32 is valid for any bit pattern.
        unsafe { &(*slot).at }.store(value, Ordering::SeqCst);
        let waited = loop {
            // SAFETY: the semaphore was initialised by `Turns::new`.
            let rc = unsafe { libc::sem_wait(&raw mut (*slot).turn) };
            match Errno::result(rc) {
                Ok(_) => break Ok(()),
                Err(Errno::EINTR) => continue,
                Err(e) => break Err(e.into()),
            }
        };
        // SAFETY: as above.
        unsafe { &(*slot).section }.store(section, Ordering::SeqCst);
        waited
    }
}

impl Drop for Turns {
    fn drop(&mut self) {
        if getpid() == self.creator {
            for i in 0..self.len {
                // SAFETY: initialised by `new`; the creator drops the turns
                // after every buyer is reaped, so nobody waits on them.
                unsafe { libc::sem_destroy(&raw mut (*self.slot(i)).turn) };
            }
        }
        let bytes = self.len.max(1) * std::mem::size_of::<TurnSlot>();
        // SAFETY: `ptr` is the start of the live mapping made in `new`.
        let _ = unsafe { munmap(self.ptr.cast(), bytes) };
    }
}
