//! One run of an exhaustive exploration (`check --exhaustive`): a prefix
//! of steps chosen by the explorer, then a default continuation that
//! switches buyers as seldom as it can — the buyer that moved last goes on
//! while it can, else the lowest id among [`Turn::options`].

use super::{Chooser, Refusal, Turn};
use crate::engine::config::Stepping;

/// The chooser for [`Stepping::Explore`].
pub(super) fn chooser(stepping: &Stepping, _buyers: usize) -> Option<Box<dyn Chooser>> {
    match stepping {
        Stepping::Explore(prefix) => Some(Box::new(Explore {
            prefix: prefix.clone(),
            last: None,
        })),
        _ => None,
    }
}

struct Explore {
    prefix: Vec<u32>,
    last: Option<u32>,
}

impl Chooser for Explore {
    fn choose(&mut self, turn: &Turn<'_>) -> Result<u32, Refusal> {
        let b = match self.prefix.get(turn.step - 1) {
            Some(&b) if turn.ready.iter().any(|r| r.id == b) => b,
            Some(&b) => return Err(Refusal::NotReady { buyer: b }),
            None => {
                let options = turn.options();
                match self.last {
                    Some(l) if options.contains(&l) => l,
                    _ => options.first().copied().unwrap_or(turn.ready[0].id),
                }
            }
        };
        self.last = Some(b);
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{ready, turn};
    use super::*;
    use crate::engine::buyer::Point;

    #[test]
    fn it_follows_its_prefix_then_keeps_the_last_mover() {
        let mut e = Explore {
            prefix: vec![1],
            last: None,
        };
        let r = ready(&[(0, Point::Lock), (1, Point::Lock)]);
        assert_eq!(e.choose(&turn(1, &r, false)), Ok(1));
        assert_eq!(e.choose(&turn(2, &r, false)), Ok(1));
        let only0 = ready(&[(0, Point::Read)]);
        assert_eq!(e.choose(&turn(3, &only0, false)), Ok(0));
        // A prefix naming a buyer who cannot move diverged.
        let mut e = Explore {
            prefix: vec![2],
            last: None,
        };
        assert_eq!(
            e.choose(&turn(1, &r, false)),
            Err(Refusal::NotReady { buyer: 2 })
        );
    }

    #[test]
    fn a_spinner_moves_only_when_nobody_else_can() {
        let mut r = ready(&[(0, Point::Inside), (1, Point::Read)]);
        r[0].spinning = true;
        assert_eq!(turn(1, &r, false).options(), vec![1]);
        r[1].spinning = true;
        assert_eq!(turn(1, &r, false).options(), vec![0, 1]);
    }
}
