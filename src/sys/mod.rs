//! The platform floor: every system call that needs `unsafe`, behind safe
//! wrappers, and nothing of `booking` above it (no strategy, no run, no
//! command). **Only this folder may contain `unsafe` code**: the crate
//! denies `unsafe_code` everywhere else, and every block here states why it
//! is sound (`clippy::undocumented_unsafe_blocks` is denied). Every return
//! code is checked and `EINTR` is retried.
//!
//! * [`fork`] — the fork boundary: the only `fork`, the child's `_exit`,
//!   the proof that the parent is single-threaded; [`children`] — the
//!   parent's handle on its children (reaping, killing on drop), and the
//!   sweep that leaves no process of a run behind;
//!   [`spawner`] — parallel spawners for thousands of children;
//! * [`channel`] — the outcome channel, whose kernel names each sender;
//! * [`shm`] — anonymous shared memory; [`sem`] — a process-shared POSIX
//!   semaphore in it; [`mutex`] — a robust process-shared mutex;
//!   [`cells`] — per-buyer cells (stage, stepped turns), shared words;
//! * [`sysv`] — System V semaphores and their lease files;
//! * [`judged`] — a run started by `check` or `grade` as a plain command,
//!   and the socket its result goes back on;
//! * [`probe`] — whether a server answers at all, in bounded time;
//! * [`privilege`] — what a buyer gives up after the fork (capabilities);
//! * [`proc`] — what `/proc` tells of a child: asleep, and waiting for
//!   whom; [`seccomp`] — a child's system calls as pause points;
//! * [`signals`] — stop signals, the parent-death signal, the pause;
//! * [`clock`] — `CLOCK_MONOTONIC`, the clock of every record.
#![allow(unsafe_code)]

pub mod cells;
pub mod channel;
pub mod children;
pub mod clock;
pub mod contain;
pub mod fork;
pub mod judged;
pub mod mutex;
pub mod privilege;
pub mod probe;
pub mod proc;
pub mod seccomp;
pub mod sem;
pub mod shm;
pub mod signals;
pub mod spawner;
pub mod sysv;

pub use cells::{SharedCells, SharedWords, Turns, TurnsView};
pub use children::{Children, Containment, Swept, become_subreaper, spawn_detached};
pub use fork::{Ending, PANICKED, SingleThreaded, exit_child, flush, last_panic};
pub use mutex::{Locked, RobustMutex};
pub use sem::ShmSemaphore;
pub use signals::{
    STOP_SIGNALS, catch_stop_signals, default_stop_signals, die_with_parent, resume, stop,
    stop_for, stop_signal,
};
pub use spawner::{Role, SpawnError};
pub use sysv::SysvSemaphore;
