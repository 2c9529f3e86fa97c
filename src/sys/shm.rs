//! Anonymous shared memory: the mapping every process-shared object of the
//! floor lives in. `MAP_SHARED` memory made before a fork is the same
//! physical memory in the parent and in every child, so an atomic or a
//! semaphore in it is shared; `MAP_PRIVATE` memory is copied on write.

use std::io;
use std::num::NonZeroUsize;
use std::ptr::NonNull;

use nix::sys::mman::{MapFlags, ProtFlags};

/// A fresh anonymous read-write mapping of `len` bytes, zero-filled and
/// page-aligned: `MAP_SHARED` (forked children see each other's writes) or
/// `MAP_PRIVATE` (each gets its own copy).
pub fn map_anonymous(len: NonZeroUsize, flags: MapFlags) -> io::Result<NonNull<std::ffi::c_void>> {
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
