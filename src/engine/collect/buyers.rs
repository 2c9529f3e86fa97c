//! The buyer processes of one run, as a guard: whatever path leaves the
//! run, no buyer outlives it and no buyer's temporary file stays behind.

use std::ops::{Deref, DerefMut};
use std::path::Path;

use crate::sys::{Children, Ending};

/// The buyer processes, and the stock file whose temporary files they may
/// leave. Dropped on every path out of a run: kills and reaps what is
/// left, then removes the temporary file of every buyer that did not exit
/// cleanly (one killed mid-write leaves one).
pub struct Buyers<'a> {
    children: Children,
    stock: &'a Path,
}

impl<'a> Buyers<'a> {
    /// The processes `children` will hold, buying from `stock`.
    pub fn new(children: Children, stock: &'a Path) -> Self {
        Buyers { children, stock }
    }

    /// The stock file they buy from.
    pub fn stock(&self) -> &Path {
        self.stock
    }
}

impl Deref for Buyers<'_> {
    type Target = Children;

    fn deref(&self) -> &Children {
        &self.children
    }
}

impl DerefMut for Buyers<'_> {
    fn deref_mut(&mut self) -> &mut Children {
        &mut self.children
    }
}

impl Drop for Buyers<'_> {
    fn drop(&mut self) {
        self.children.kill_and_reap_all();
        // A buyer's own processes, and the strategy's (a strategy that
        // forks), were adopted by this process (a subreaper): none outlives
        // the run, nor is left to touch the stock once it is read.
        self.children.kill_strays();
        for i in 0..self.children.len() {
            if self.children.ending(i) != Some(Ending::Exited(0)) {
                let pid = self.children.pid(i);
                let _ = std::fs::remove_file(crate::model::stock::temp_path(self.stock, pid));
            }
        }
    }
}
