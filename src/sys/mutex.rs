//! A robust process-shared pthread mutex: the next locker repairs it when
//! its owner died holding it.

use std::io;
use std::num::NonZeroUsize;
use std::ptr::NonNull;

use nix::libc;
use nix::sys::mman::{MapFlags, munmap};
use nix::unistd::{Pid, getpid};

use super::shm::map_anonymous;

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
