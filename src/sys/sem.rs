//! `sem`: an unnamed process-shared POSIX semaphore in shared memory, and
//! the pid of its holder for repair (a semaphore has no owner).

use std::io;
use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::libc;
use nix::sys::mman::{MapFlags, ProtFlags, mmap, munmap, shm_open, shm_unlink};
use nix::sys::stat::Mode;
use nix::unistd::{Pid, ftruncate, getpid};

use super::shm::map_anonymous;

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

    /// Creates the region under a name unique to this process and run
    /// (`/booking-<pid>-<random>`), with `value` permits.
    ///
    /// # Errors
    /// As [`ShmSemaphore::create`], with the name in the message.
    pub fn create_unique(value: u32) -> io::Result<Self> {
        let name = format!("/booking-{}-{:016x}", getpid(), rand::random::<u64>());
        Self::create(&name, value)
            .map_err(|e| io::Error::new(e.kind(), format!("shared-memory semaphore {name}: {e}")))
    }

    /// **Deliberately wrong**, for the zoo (pitfall 6 of the design notes):
    /// the same semaphore, `sem_init(pshared = 1)` and all, but in
    /// `MAP_PRIVATE` memory. After `fork` every buyer has its own copy of
    /// the page, so every buyer "holds" its own semaphore and nobody waits.
    ///
    /// # Errors
    /// Any error of `mmap` or `sem_init`.
    pub fn create_private(value: u32) -> io::Result<Self> {
        let len = NonZeroUsize::new(REGION_LEN).expect("region is not empty");
        let ptr = map_anonymous(len, MapFlags::MAP_PRIVATE)?;
        let this = ShmSemaphore {
            region: ptr.cast(),
            creator: getpid(),
        };
        // SAFETY: as in `create`: zero-filled, page-aligned, unused memory.
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
