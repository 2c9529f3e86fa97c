//! Locking strategies, in three parts that depend one way:
//!
//! * [`api`] — what a strategy implements ([`Lock`], [`Shared`], its
//!   [`Strategy`] entry) and what it is given ([`Setup`], [`Guard`],
//!   [`Order`], [`Sold`]); [`hooks`] — what it may call from its `lock`
//!   ([`point`], [`note`], [`now_ns`]); [`backoff`] — how a lock that
//!   polls waits between tries. None knows the engine, the
//!   stores or the lock servers, which depend on them;
//! * [`strategies`] — the strategies, one file each, importing the API, the
//!   platform floor ([`crate::sys`]) and, for the database and lease
//!   strategies, [`crate::store`] and [`crate::lease`];
//! * [`registry`] — every strategy, found by the build script: adding a
//!   strategy is adding one file to `src/lock/strategies/`.

pub mod api;
pub mod backoff;
pub mod hooks;
pub mod registry;
pub mod strategies;

#[cfg(feature = "postgres")]
pub use api::PgPlace;
pub use api::{
    Database, Guard, Lock, LockServer, Moment, Order, Protects, Setup, Shared, Sold, Store,
    Strategy, acquire, retry_eintr,
};
pub use hooks::{note, now_ns, point};
pub use registry::{all, find, in_file, listed, named, names_unique, not_built};
pub use strategies::Gated;
