//! Integration tests: every test drives the real `booking` binary.
//!
//! The binary, not the library, is what forks: a test harness has several
//! threads, and a process with threads must not fork and go on running
//! ordinary code in the child.
//!
//! What tests share lives in `support`; the feature modules import from
//! it, never from each other.

// Some of what the tests share serves only the server tests (pg.rs,
// redis.rs), which a build without their features leaves out; the full
// build, which CI lints too, holds it to being used.
#[cfg_attr(
    not(all(feature = "postgres", feature = "redis")),
    allow(dead_code, unused_imports)
)]
#[path = "it/support/mod.rs"]
mod support;

#[path = "it/bench.rs"]
mod bench;
#[path = "it/cli.rs"]
mod cli;
#[path = "it/contain.rs"]
mod contain;
#[path = "it/docs.rs"]
mod docs;
#[path = "it/escape.rs"]
mod escape;
#[path = "it/exhaustive.rs"]
mod exhaustive;
#[path = "it/faults.rs"]
mod faults;
#[path = "it/grade.rs"]
mod grade;
#[path = "it/handout.rs"]
mod handout;
#[path = "it/hostile.rs"]
mod hostile;
#[path = "it/judge.rs"]
mod judge;
#[path = "it/lab.rs"]
mod lab;
#[path = "it/lean.rs"]
mod lean;
#[cfg(feature = "postgres")]
#[path = "it/pg.rs"]
mod pg;
#[path = "it/picture.rs"]
mod picture;
#[path = "it/pool.rs"]
mod pool;
#[path = "it/privilege.rs"]
mod privilege;
#[path = "it/props.rs"]
mod props;
#[cfg(feature = "redis")]
#[path = "it/redis.rs"]
mod redis;
#[path = "it/report.rs"]
mod report;
#[path = "it/run.rs"]
mod run;
#[path = "it/signals.rs"]
mod signals;
// A server that never answers, given as --store or --lock-server: flags
// only the postgres and redis features build (lean.rs tests their refusal).
#[cfg(all(feature = "postgres", feature = "redis"))]
#[path = "it/silent.rs"]
mod silent;
#[path = "it/spin.rs"]
mod spin;
#[path = "it/sql.rs"]
mod sql;
#[path = "it/stepped.rs"]
mod stepped;
#[path = "it/surface.rs"]
mod surface;
#[path = "it/timeline.rs"]
mod timeline;
