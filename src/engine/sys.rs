//! The `unsafe` blocks of the crate, but those of the fork boundary
//! ([`super::fork`]): the process-shared POSIX semaphore in a `shm_open` +
//! `mmap` region, the shared cells buyers report their stage in, and the
//! signal handlers.
//!
//! The rest of the crate sees only safe wrappers. Each `unsafe` block states
//! why it is sound; every return code is checked and `EINTR` is retried.

use std::io;
use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI32, AtomicU8, AtomicU32, Ordering};

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::libc;
use nix::sys::mman::{MapFlags, ProtFlags, mmap, munmap, shm_open, shm_unlink};
use nix::sys::stat::Mode;
use nix::unistd::{Pid, ftruncate, getpid};

/// A fresh anonymous read-write mapping of `len` bytes, zero-filled and
/// page-aligned: `MAP_SHARED` (forked children see each other's writes) or
/// `MAP_PRIVATE` (each gets its own copy).
fn map_anonymous(len: NonZeroUsize, flags: MapFlags) -> io::Result<NonNull<std::ffi::c_void>> {
    // SAFETY: a fresh mapping at an address the kernel picks; it aliases no
    // Rust memory.
    let ptr = unsafe {
        nix::sys::mman::mmap_anonymous(
            None,
            len,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            flags,
        )
    }?;
    Ok(ptr)
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

/// The signals that stop `booking`: Ctrl-C, `kill`, the terminal closing.
pub const STOP_SIGNALS: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

/// The first stop signal that arrived (0: none yet).
static STOP: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_stop(sig: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    let _ = STOP.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
}

/// Catches [`STOP_SIGNALS`] with a handler that records the signal, and
/// **without `SA_RESTART`**: a blocking call (`read` at a prompt, `poll`,
/// `waitpid`) returns `EINTR`, so the code around it sees the stop at once
/// instead of blocking on.
///
/// # Errors
/// Any error of `sigaction`.
pub fn catch_stop_signals() -> io::Result<()> {
    let action = SigAction::new(
        SigHandler::Handler(on_stop),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in STOP_SIGNALS {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe; no thread is started.
        unsafe { sigaction(sig, &action) }?;
    }
    Ok(())
}

/// The stop signal that arrived, if any.
pub fn stop_signal() -> Option<Signal> {
    match STOP.load(Ordering::SeqCst) {
        0 => None,
        n => Signal::try_from(n).ok(),
    }
}

/// In a freshly forked child: restores the default action of the
/// [`STOP_SIGNALS`] (the parent catches them to clean up; a child should
/// simply die).
///
/// # Errors
/// Any error of `sigaction`.
pub fn default_stop_signals() -> io::Result<()> {
    for sig in STOP_SIGNALS {
        // SAFETY: installing SIG_DFL runs no handler code of ours, so no
        // async-signal-safety question arises.
        unsafe { nix::sys::signal::signal(sig, SigHandler::SigDfl) }?;
    }
    Ok(())
}

/// Asks the kernel to `SIGKILL` this process when its parent dies
/// (`PR_SET_PDEATHSIG`), so that it does not outlive a parent killed with
/// `SIGKILL`. The parent that counts is the one it has *now*: a buyer
/// forked by a spawner calls this only once adopted by `booking`, or the
/// spawner's normal exit would kill it.
///
/// # Errors
/// Any error of `prctl`.
pub fn die_with_parent() -> io::Result<()> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
    Ok(())
}

/// Stops this process with `SIGSTOP` for about `pause` (`--pause`): the
/// pause of a garbage collector, a swapped-out page, a migrated virtual
/// machine. A stopped process runs nothing — no timer of its own, no
/// lease renewal — so it cannot wake itself: a POSIX timer
/// (`timer_create`) armed before the stop has the **kernel** send
/// `SIGCONT` when it expires, and a `SIGCONT` continues a stopped process
/// when it is sent, whatever its mask. The timer repeats every
/// millisecond after the first expiry: were the first `SIGCONT` sent
/// before the `SIGSTOP` took effect (this process preempted for all of
/// `pause` between the two calls), the next one still ends the stop.
/// `SIGCONT`'s default action on a running process is to do nothing, so
/// the repeats are harmless until the timer is deleted (dropped).
///
/// The parent sees nothing of it: it waits for its children without
/// `WUNTRACED`, and the watchdog allows for the pause.
///
/// # Errors
/// Any error of `timer_create`, `timer_settime` or `raise`.
pub fn stop_for(pause: std::time::Duration) -> io::Result<()> {
    use nix::sys::signal::{SigEvent, SigevNotify};
    use nix::sys::time::TimeSpec;
    use nix::sys::timer::{Expiration, Timer, TimerSetTimeFlags};
    let wake = SigEvent::new(SigevNotify::SigevSignal {
        signal: Signal::SIGCONT,
        si_value: 0,
    });
    let mut timer = Timer::new(nix::time::ClockId::CLOCK_MONOTONIC, wake)?;
    let first = TimeSpec::from_duration(pause.max(std::time::Duration::from_micros(1)));
    let again = TimeSpec::from_duration(std::time::Duration::from_millis(1));
    timer.set(
        Expiration::IntervalDelayed(first, again),
        TimerSetTimeFlags::empty(),
    )?;
    nix::sys::signal::raise(Signal::SIGSTOP)?;
    drop(timer);
    Ok(())
}

/// One byte per buyer in anonymous `MAP_SHARED` memory, made before the
/// forks: each buyer writes where it is (see [`super::buyer::Stage`]), the parent
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
        let ptr = map_anonymous(bytes, MapFlags::MAP_SHARED)?;
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

/// One buyer's slot of [`Turns`]: its turn semaphore, and where it paused.
#[repr(C)]
struct TurnSlot {
    turn: libc::sem_t,
    /// `(pauses so far << 8) | point`: changes at every pause.
    at: AtomicU32,
}

/// Stepped mode's turns, one slot per buyer in anonymous `MAP_SHARED`
/// memory made before the forks: a buyer announces where it paused and
/// waits on its own process-shared semaphore until the parent (the
/// scheduler) posts it. No descriptor per buyer.
pub struct Turns {
    ptr: NonNull<TurnSlot>,
    len: usize,
    creator: Pid,
}

impl Turns {
    /// `len` slots, every semaphore at 0 (no turn yet).
    ///
    /// # Errors
    /// Any error of `mmap` or `sem_init`.
    pub fn new(len: usize) -> io::Result<Self> {
        let bytes = NonZeroUsize::new(len.max(1) * std::mem::size_of::<TurnSlot>())
            .expect("at least one slot");
        let ptr = map_anonymous(bytes, MapFlags::MAP_SHARED)?;
        let this = Turns {
            ptr: ptr.cast(),
            len,
            creator: getpid(),
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
        }
    }

    /// Where buyer `i` last paused (0: not yet).
    pub fn at(&self, i: usize) -> u32 {
        self.at_cell(i).load(Ordering::SeqCst)
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
}

// SAFETY: the view only reaches shared memory through atomics and
// process-shared semaphores, which are safe to use from any thread.
unsafe impl Send for TurnsView {}

impl TurnsView {
    /// In buyer `i`: announces `value` (see [`TurnSlot`]) and waits for a
    /// turn (`sem_wait`, retried on `EINTR`).
    ///
    /// # Errors
    /// Any error of `sem_wait` other than `EINTR`.
    pub fn pause(&self, i: usize, value: u32) -> io::Result<()> {
        assert!(i < self.len, "slot {i} of {}", self.len);
        // SAFETY: `i < len`, inside the mapping, valid for this process's
        // life (see the type's doc).
        let slot = unsafe { self.ptr.as_ptr().add(i) };
        // SAFETY: as above; AtomicU32 is valid for any bit pattern.
        unsafe { &(*slot).at }.store(value, Ordering::SeqCst);
        loop {
            // SAFETY: the semaphore was initialised by `Turns::new`.
            let rc = unsafe { libc::sem_wait(&raw mut (*slot).turn) };
            match Errno::result(rc) {
                Ok(_) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
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

/// A System V semaphore set of one semaphore, private to this run
/// (`IPC_PRIVATE`, mode 0600), used as a lock with **`SEM_UNDO`**: the
/// kernel keeps, per process, the sum of its operations, and applies the
/// reverse when the process exits — however it exits. A holder that dies
/// gives its permit back by itself; no repair code of ours.
///
/// Unlike a POSIX semaphore in unlinked shared memory, a System V set
/// lives until removed (`IPC_RMID`): the parent removes it when dropped. A
/// `booking` killed with `SIGKILL` cannot; the set's lease file (see
/// [`crate::engine::workspace::IpcLease`]) lets the next run remove it.
pub struct SysvSemaphore {
    id: libc::c_int,
    creator: Pid,
}

impl SysvSemaphore {
    /// A new set of one semaphore at `value`.
    ///
    /// # Errors
    /// Any error of `semget` or `semctl`.
    pub fn create(value: u32) -> io::Result<Self> {
        // SAFETY: plain system call; no pointers.
        let id = unsafe { libc::semget(libc::IPC_PRIVATE, 1, libc::IPC_CREAT | 0o600) };
        let id = Errno::result(id)?;
        let this = SysvSemaphore {
            id,
            creator: getpid(),
        };
        // SAFETY: SETVAL takes an int as its fourth (variadic) argument.
        let rc = unsafe { libc::semctl(id, 0, libc::SETVAL, value as libc::c_int) };
        Errno::result(rc)?;
        Ok(this)
    }

    /// The set's id and its change time (`sem_ctime`, set by the
    /// `SETVAL` of [`SysvSemaphore::create`]): together they name this set
    /// and no later one that reuses the id.
    ///
    /// # Errors
    /// Any error of `semctl(IPC_STAT)`.
    pub fn id_and_stamp(&self) -> io::Result<(i32, i64)> {
        Ok((self.id, stat(self.id)?.sem_ctime))
    }

    /// Removes the set `id` of a dead run, if it is still that run's: this
    /// user's, and changed last at `stamp`. Returns whether it was removed.
    ///
    /// # Errors
    /// `semctl` failing for another reason than the set being gone
    /// (`EINVAL`, `EIDRM`).
    pub fn remove_abandoned(id: i32, stamp: i64) -> io::Result<bool> {
        let ds = match stat(id) {
            Ok(ds) => ds,
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EIDRM)) => {
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        if ds.sem_perm.uid != nix::unistd::getuid().as_raw() || ds.sem_ctime != stamp {
            return Ok(false);
        }
        // SAFETY: IPC_RMID takes no fourth argument.
        let rc = unsafe { libc::semctl(id, 0, libc::IPC_RMID) };
        Errno::result(rc)?;
        Ok(true)
    }

    fn op(&self, delta: i16) -> io::Result<()> {
        let mut op = libc::sembuf {
            sem_num: 0,
            sem_op: delta,
            sem_flg: libc::SEM_UNDO as libc::c_short,
        };
        loop {
            // SAFETY: `op` is one valid sembuf for the duration of the call.
            let rc = unsafe { libc::semop(self.id, &mut op, 1) };
            match Errno::result(rc) {
                Ok(_) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// `P`: takes a permit, recorded for undo.
    ///
    /// # Errors
    /// Any error of `semop` other than `EINTR`.
    pub fn wait(&self) -> io::Result<()> {
        self.op(-1)
    }

    /// `V`: gives it back (the undo record balances again).
    ///
    /// # Errors
    /// Any error of `semop` other than `EINTR`.
    pub fn post(&self) -> io::Result<()> {
        self.op(1)
    }
}

/// `semctl(IPC_STAT)` of the set `id`.
fn stat(id: libc::c_int) -> io::Result<libc::semid_ds> {
    // SAFETY: semid_ds is plain integers; all zeros is a valid value.
    let mut ds: libc::semid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: IPC_STAT takes a pointer to a semid_ds as its fourth
    // argument (the `buf` member of union semun), valid for the call.
    let rc = unsafe { libc::semctl(id, 0, libc::IPC_STAT, &raw mut ds) };
    Errno::result(rc)?;
    Ok(ds)
}

impl Drop for SysvSemaphore {
    fn drop(&mut self) {
        if getpid() == self.creator {
            // SAFETY: IPC_RMID takes no fourth argument; the return code is
            // ignored because Drop cannot report (the set is gone or was
            // never ours).
            unsafe { libc::semctl(self.id, 0, libc::IPC_RMID) };
        }
    }
}

/// A process-shared **robust** mutex (`PTHREAD_PROCESS_SHARED`,
/// `PTHREAD_MUTEX_ROBUST`) in anonymous `MAP_SHARED` memory. When its owner
/// dies holding it, the kernel (through the robust-futex list glibc keeps
/// for every thread) marks it, and the next `pthread_mutex_lock` returns
/// `EOWNERDEAD`: that locker now holds it, makes it consistent
/// (`pthread_mutex_consistent`) and goes on. The next locker repairs it;
/// no parent is needed.
pub struct RobustMutex {
    ptr: NonNull<libc::pthread_mutex_t>,
    creator: Pid,
}

/// How [`RobustMutex::lock`] got the mutex.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Locked {
    /// As usual.
    Clean,
    /// From an owner that died holding it; made consistent again.
    Recovered,
}

impl RobustMutex {
    /// A new, unlocked mutex.
    ///
    /// # Errors
    /// Any error of `mmap` or the `pthread_mutexattr_*` and init calls.
    pub fn create() -> io::Result<Self> {
        let len = NonZeroUsize::new(std::mem::size_of::<libc::pthread_mutex_t>())
            .expect("a mutex has a size");
        let ptr: NonNull<libc::pthread_mutex_t> = map_anonymous(len, MapFlags::MAP_SHARED)?.cast();
        let this = RobustMutex {
            ptr,
            creator: getpid(),
        };
        let mut attr = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
        // SAFETY: `attr` is initialised by pthread_mutexattr_init before any
        // other use and destroyed after; `ptr` points to fresh, zeroed,
        // page-aligned shared memory large enough for a mutex.
        unsafe {
            pthread_result(libc::pthread_mutexattr_init(attr.as_mut_ptr()))?;
            let set = pthread_result(libc::pthread_mutexattr_setpshared(
                attr.as_mut_ptr(),
                libc::PTHREAD_PROCESS_SHARED,
            ))
            .and_then(|()| {
                pthread_result(libc::pthread_mutexattr_setrobust(
                    attr.as_mut_ptr(),
                    libc::PTHREAD_MUTEX_ROBUST,
                ))
            })
            .and_then(|()| pthread_result(libc::pthread_mutex_init(ptr.as_ptr(), attr.as_ptr())));
            libc::pthread_mutexattr_destroy(attr.as_mut_ptr());
            set?;
        }
        Ok(this)
    }

    /// Locks it; recovers it from an owner that died.
    ///
    /// # Errors
    /// `ENOTRECOVERABLE` (an earlier recovery was not completed), or any
    /// other error of `pthread_mutex_lock`.
    pub fn lock(&self) -> io::Result<Locked> {
        // SAFETY: the mutex was initialised by `create` and stays mapped.
        let rc = unsafe { libc::pthread_mutex_lock(self.ptr.as_ptr()) };
        match rc {
            0 => Ok(Locked::Clean),
            libc::EOWNERDEAD => {
                // SAFETY: we hold the mutex (EOWNERDEAD returns it locked).
                pthread_result(unsafe { libc::pthread_mutex_consistent(self.ptr.as_ptr()) })?;
                Ok(Locked::Recovered)
            }
            e => Err(io::Error::from_raw_os_error(e)),
        }
    }

    /// Unlocks it.
    ///
    /// # Errors
    /// Any error of `pthread_mutex_unlock` (`EPERM`: not the owner).
    pub fn unlock(&self) -> io::Result<()> {
        // SAFETY: the mutex was initialised by `create` and stays mapped.
        pthread_result(unsafe { libc::pthread_mutex_unlock(self.ptr.as_ptr()) })
    }
}

/// pthread functions return the error number instead of setting `errno`.
fn pthread_result(rc: libc::c_int) -> io::Result<()> {
    match rc {
        0 => Ok(()),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

impl Drop for RobustMutex {
    fn drop(&mut self) {
        if getpid() == self.creator {
            // SAFETY: initialised by `create`; the creator drops it after
            // every buyer is reaped. Return code ignored: Drop cannot report.
            unsafe { libc::pthread_mutex_destroy(self.ptr.as_ptr()) };
        }
        let len = std::mem::size_of::<libc::pthread_mutex_t>();
        // SAFETY: `ptr` is the start of the live mapping made in `create`.
        let _ = unsafe { munmap(self.ptr.cast(), len) };
    }
}
