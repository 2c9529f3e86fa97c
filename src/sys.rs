//! Every `unsafe` block of the crate lives here: `fork`, `_exit`, and the
//! process-shared POSIX semaphore in a `shm_open` + `mmap` region.
//!
//! The rest of the crate sees only safe wrappers. Each `unsafe` block states
//! why it is sound; every return code is checked and `EINTR` is retried.

use std::io;
use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::libc;
use nix::sys::mman::{MapFlags, ProtFlags, mmap, munmap, shm_open, shm_unlink};
use nix::sys::stat::Mode;
use nix::unistd::{ForkResult, Pid, ftruncate, getpid};

/// How many threads the calling process has, read from `/proc/self/task`.
///
/// # Errors
/// When `/proc` cannot be read.
pub fn thread_count() -> io::Result<usize> {
    Ok(std::fs::read_dir("/proc/self/task")?.count())
}

/// What [`fork`] returned on this side.
pub enum Forked {
    /// We are the new process.
    Child,
    /// We are the caller; the new process has this pid.
    Parent(Pid),
}

/// Forks the calling process.
///
/// Only a single-threaded process may fork and then run ordinary code
/// (allocate, take locks) in the child: a thread that held the allocator's
/// lock at the moment of the fork does not exist in the child, so that lock
/// would stay taken for ever. [`crate::run`] checks [`thread_count`] before
/// its first fork and refuses to fork from a multi-threaded process.
///
/// # Errors
/// `EAGAIN` when the process limit (`RLIMIT_NPROC`) or memory is exhausted.
pub fn fork_single_threaded() -> io::Result<Forked> {
    // SAFETY: the caller (crate::run) verified the process is single-threaded,
    // so the child may call any function, not only async-signal-safe ones.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Child => Ok(Forked::Child),
        ForkResult::Parent { child } => Ok(Forked::Parent(child)),
    }
}

/// Ends a forked child at once with `status`, without running `atexit`
/// handlers or flushing stdio buffers copied from the parent (which would
/// print the parent's pending output twice).
pub fn exit_child(status: i32) -> ! {
    // SAFETY: `_exit` is async-signal-safe, takes no pointers and never returns.
    unsafe { libc::_exit(status) }
}

/// The layout of the shared region: the semaphore and the pid of the buyer
/// that holds it (0 when nobody does).
#[repr(C)]
struct SemRegion {
    sem: libc::sem_t,
    holder: AtomicI32,
}

/// An unnamed, process-shared POSIX semaphore (`sem_init(pshared = 1)`)
/// living in a `shm_open` + `mmap(MAP_SHARED)` region.
///
/// The shared-memory object is created with `O_EXCL` and mode 0600 under a
/// name unique to the run, mapped, and **unlinked at once**: from then on the
/// region is reachable only through this mapping, which forked children
/// inherit. Nothing is left in `/dev/shm` even if the whole process tree is
/// killed with `SIGKILL`; the kernel frees the memory with the last mapping.
///
/// A semaphore has no owner: if a process dies between `wait` and `post`, the
/// count stays at zero and every waiter blocks for ever. The region therefore
/// records the holder's pid ([`ShmSemaphore::holder`]) so that the parent,
/// which reaps its children and knows who died, can repair it exactly once.
pub struct ShmSemaphore {
    region: NonNull<SemRegion>,
    creator: Pid,
}

const REGION_LEN: usize = std::mem::size_of::<SemRegion>();

impl ShmSemaphore {
    /// Creates the region under `name` (which must start with `/`) and
    /// initialises the semaphore to `value`.
    ///
    /// # Errors
    /// `EEXIST` if `name` exists already; any error of `shm_open`,
    /// `ftruncate`, `mmap` or `sem_init`. The name is unlinked on every path.
    pub fn create(name: &str, value: u32) -> io::Result<Self> {
        let fd = shm_open(
            name,
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_RDWR | OFlag::O_CLOEXEC,
            Mode::S_IRUSR | Mode::S_IWUSR,
        )?;
        let mapped = Self::map(&fd);
        // Unlink whatever happened: the mapping (if any) keeps the memory alive.
        let unlinked = shm_unlink(name);
        let region = mapped?;
        let this = ShmSemaphore {
            region,
            creator: getpid(),
        };
        unlinked?;
        // SAFETY: `region` points to REGION_LEN bytes of MAP_SHARED memory,
        // zero-filled by ftruncate, suitably aligned (page-aligned); nobody
        // else uses it yet, so initialising the semaphore in place is sound.
        let rc = unsafe { libc::sem_init(&raw mut (*this.region.as_ptr()).sem, 1, value) };
        Errno::result(rc)?;
        Ok(this)
    }

    fn map(fd: &std::os::fd::OwnedFd) -> io::Result<NonNull<SemRegion>> {
        ftruncate(fd, REGION_LEN as libc::off_t)?;
        let len = NonZeroUsize::new(REGION_LEN).expect("region is not empty");
        // SAFETY: a fresh mapping at an address the kernel picks, of an object
        // just sized to `len`; it aliases no Rust memory.
        let ptr = unsafe {
            mmap(
                None,
                len,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
                fd,
                0,
            )
        }?;
        Ok(ptr.cast())
    }

    fn sem(&self) -> *mut libc::sem_t {
        // SAFETY: the region stays mapped for the life of `self`.
        unsafe { &raw mut (*self.region.as_ptr()).sem }
    }

    fn holder_cell(&self) -> &AtomicI32 {
        // SAFETY: the region stays mapped for the life of `self`; AtomicI32 is
        // valid for any bit pattern and is only accessed atomically.
        unsafe { &(*self.region.as_ptr()).holder }
    }

    /// `sem_wait`, retried on `EINTR`, then records the caller as holder.
    ///
    /// # Errors
    /// Any error of `sem_wait` other than `EINTR`.
    pub fn wait(&self) -> io::Result<()> {
        loop {
            // SAFETY: `sem()` points to a semaphore initialised by `create`.
            let rc = unsafe { libc::sem_wait(self.sem()) };
            match Errno::result(rc) {
                Ok(_) => break,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        self.holder_cell()
            .store(getpid().as_raw(), Ordering::SeqCst);
        Ok(())
    }

    /// Clears the holder, then `sem_post`.
    ///
    /// # Errors
    /// Any error of `sem_post` (`EOVERFLOW`).
    pub fn post(&self) -> io::Result<()> {
        self.holder_cell().store(0, Ordering::SeqCst);
        self.post_raw()
    }

    fn post_raw(&self) -> io::Result<()> {
        // SAFETY: `sem()` points to a semaphore initialised by `create`.
        let rc = unsafe { libc::sem_post(self.sem()) };
        Errno::result(rc).map(drop).map_err(Into::into)
    }

    /// The pid recorded as holder, if any.
    pub fn holder(&self) -> Option<Pid> {
        match self.holder_cell().load(Ordering::SeqCst) {
            0 => None,
            pid => Some(Pid::from_raw(pid)),
        }
    }

    /// The semaphore's current value (`sem_getvalue`).
    ///
    /// # Errors
    /// Any error of `sem_getvalue`.
    pub fn value(&self) -> io::Result<i32> {
        let mut value = 0;
        // SAFETY: `sem()` points to an initialised semaphore; `value` is a
        // valid out-pointer for the duration of the call.
        let rc = unsafe { libc::sem_getvalue(self.sem(), &mut value) };
        Errno::result(rc)?;
        Ok(value)
    }

    /// Repairs the semaphore after `dead` died: if `dead` is the recorded
    /// holder, clears the holder and posts once. Returns whether it did.
    ///
    /// Only call this for a process known to be dead (reaped by `waitpid`):
    /// a holder that is merely slow must never lose its permit, and a blind
    /// post would mint an extra one.
    ///
    /// # Errors
    /// Any error of `sem_post`.
    pub fn repair_if_held_by(&self, dead: Pid) -> io::Result<bool> {
        let cell = self.holder_cell();
        if cell
            .compare_exchange(dead.as_raw(), 0, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return Ok(false);
        }
        self.post_raw()?;
        Ok(true)
    }
}

impl Drop for ShmSemaphore {
    fn drop(&mut self) {
        if getpid() == self.creator {
            // SAFETY: the semaphore was initialised by `create`; the creator
            // drops it after every child has been reaped, so nobody waits on it.
            // The return code is ignored: Drop cannot report, and the memory
            // is unmapped right after anyway.
            unsafe { libc::sem_destroy(self.sem()) };
        }
        // SAFETY: `region` is the start of a live mapping of REGION_LEN bytes
        // created in `create`; no reference into it outlives `self`.
        let _ = unsafe { munmap(self.region.cast(), REGION_LEN) };
    }
}

/// In a freshly forked buyer: restores the default action of `SIGINT` and
/// `SIGTERM` (the parent catches them to clean up; a buyer should simply
/// die), and asks the kernel to `SIGKILL` this process if the parent dies,
/// so that no buyer outlives a parent killed with `SIGKILL`.
///
/// # Errors
/// Any error of `sigaction` or `prctl`.
pub fn become_buyer() -> io::Result<()> {
    use nix::sys::signal::{SigHandler, Signal, signal};
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: installing SIG_DFL runs no handler code of ours, so no
        // async-signal-safety question arises.
        unsafe { signal(sig, SigHandler::SigDfl) }?;
    }
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
    Ok(())
}

/// One byte per buyer in anonymous `MAP_SHARED` memory, made before the
/// forks: each buyer writes where it is (see [`crate::run`]), the parent
/// reads it to say what stuck buyers were stuck on. Shared, not private,
/// so a child's writes are not copied away from the parent by fork.
pub struct SharedCells {
    ptr: NonNull<AtomicU8>,
    len: usize,
}

impl SharedCells {
    /// `len` cells, all 0.
    ///
    /// # Errors
    /// Any error of `mmap`.
    pub fn new(len: usize) -> io::Result<Self> {
        let bytes = NonZeroUsize::new(len.max(1)).expect("at least one byte");
        // SAFETY: a fresh anonymous mapping at an address the kernel picks;
        // it aliases no Rust memory.
        let ptr = unsafe {
            nix::sys::mman::mmap_anonymous(
                None,
                bytes,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
            )
        }?;
        Ok(SharedCells {
            ptr: ptr.cast(),
            len,
        })
    }

    fn cells(&self) -> &[AtomicU8] {
        // SAFETY: the mapping holds `len` zero-initialised bytes for the life
        // of `self`; AtomicU8 has the layout of u8 and every bit pattern is
        // valid; all access goes through atomics.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// Sets cell `i`.
    pub fn set(&self, i: usize, value: u8) {
        self.cells()[i].store(value, Ordering::Relaxed);
    }

    /// Reads cell `i`.
    pub fn get(&self, i: usize) -> u8 {
        self.cells()[i].load(Ordering::Relaxed)
    }
}

impl Drop for SharedCells {
    fn drop(&mut self) {
        // SAFETY: `ptr` is the start of a live mapping of at least `len`
        // bytes made in `new`; no reference into it outlives `self`.
        let _ = unsafe { munmap(self.ptr.cast(), self.len.max(1)) };
    }
}
