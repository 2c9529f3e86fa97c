//! Predict, then see (`--quiz [WHAT]`, `--predict ANSWER`): the question
//! asked after a run and before its verdict, and the reveal.
//!
//! Questions: how many buyers were told they got a ticket (`sold`, the
//! default), how many tickets the file says are left (`remaining`), how
//! many were sold beyond the stock (`oversold`), which ticket number was
//! sold to the most buyers (`ticket`), and whether the run was safe
//! (`safe`: yes or no).

use std::str::FromStr;

use super::RunReport;
use crate::judge::verdict::{Status, count};

/// What the quiz asks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Question {
    /// Buyers told they got a ticket.
    #[default]
    Sold,
    /// The count left in the stock file.
    Remaining,
    /// Tickets sold beyond the stock.
    Oversold,
    /// The ticket number sold to the most buyers.
    Ticket,
    /// Whether the verdict is SAFE.
    Safe,
}

impl Question {
    /// Every question, for `--help`.
    pub const ALL: [Question; 5] = [
        Question::Sold,
        Question::Remaining,
        Question::Oversold,
        Question::Ticket,
        Question::Safe,
    ];

    /// Its `--quiz` name.
    pub fn name(self) -> &'static str {
        match self {
            Question::Sold => "sold",
            Question::Remaining => "remaining",
            Question::Oversold => "oversold",
            Question::Ticket => "ticket",
            Question::Safe => "safe",
        }
    }

    /// What it asks, for `--help`.
    pub fn about(self) -> &'static str {
        match self {
            Question::Sold => "how many buyers were told they got a ticket",
            Question::Remaining => "how many tickets the file says are left",
            Question::Oversold => "how many tickets were sold beyond the stock",
            Question::Ticket => "which ticket number was sold to the most buyers",
            Question::Safe => "whether the run was safe (yes or no)",
        }
    }

    /// The right answer for `r`, as a person would type it.
    pub fn answer(self, r: &RunReport) -> String {
        let v = &r.verdict;
        match self {
            Question::Sold => v.sold.to_string(),
            Question::Remaining => v.remaining.to_string(),
            Question::Oversold => v.oversold.to_string(),
            Question::Ticket => r
                .most_sold_ticket
                .map_or("none".into(), |t| t.ticket.to_string()),
            Question::Safe => if v.safe { "yes" } else { "no" }.into(),
        }
    }

    /// Whether `guess` is a well-formed answer to this question.
    pub fn accepts(self, guess: &str) -> bool {
        match self {
            Question::Safe => normalise_yes_no(guess).is_some(),
            Question::Ticket => guess == "none" || ticket_number(guess).parse::<u64>().is_ok(),
            _ => guess.parse::<u64>().is_ok(),
        }
    }

    /// What to type, after a malformed answer.
    pub fn hint(self) -> &'static str {
        match self {
            Question::Safe => "yes or no, please",
            Question::Ticket => "a ticket number (100 or #100, or none), please",
            _ => "a whole number, please",
        }
    }
}

/// A ticket number as typed: `100`, or `#100` as the report prints it.
fn ticket_number(guess: &str) -> &str {
    guess.strip_prefix('#').unwrap_or(guess)
}

fn normalise_yes_no(s: &str) -> Option<&'static str> {
    match s.to_ascii_lowercase().as_str() {
        "yes" | "y" | "safe" => Some("yes"),
        "no" | "n" | "unsafe" => Some("no"),
        _ => None,
    }
}

impl FromStr for Question {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Question::ALL
            .into_iter()
            .find(|q| q.name() == s)
            .ok_or_else(|| {
                format!("unknown question '{s}' (sold, remaining, oversold, ticket, safe)")
            })
    }
}

/// The question, about the run just made.
pub fn question(r: &RunReport, q: Question) -> String {
    let setting = format!(
        "{} raced for {} under lock {}.",
        count(u64::from(r.buyers), "buyer", "buyers"),
        count(r.tickets, "ticket", "tickets"),
        r.strategy
    );
    let ask = match q {
        Question::Sold => "How many were told they got a ticket?",
        Question::Remaining => "What count does the stock file show now?",
        Question::Oversold => "How many tickets were sold beyond the stock?",
        Question::Ticket => "Which ticket number was sold to the most buyers (or none)?",
        Question::Safe => "Was the run safe (yes or no)?",
    };
    format!("{setting} {ask}")
}

/// Whether the run's strategy claims to be safe.
fn claims_safe(r: &RunReport) -> bool {
    crate::lock::find(&r.strategy).is_some_and(|s| s.safe)
}

/// The reveal: whether `guess` was right, and what the run shows about the
/// question asked — for `remaining`, the lost updates that left the file
/// too high; for `ticket`, the ticket number sold to several buyers; for
/// the others, the oversell, or why the run was or was not safe. It never
/// credits a lock with safety it does not claim: a wrong strategy's lucky
/// run is called lucky.
pub fn reveal(r: &RunReport, q: Question, guess: &str) -> String {
    let answer = q.answer(r);
    let right = match q {
        Question::Safe => normalise_yes_no(guess) == Some(answer.as_str()),
        Question::Ticket => ticket_number(guess.trim()) == answer,
        _ => guess.trim() == answer,
    };
    let verdict = if right {
        format!("Your prediction: {guess}. Right!")
    } else {
        format!("Your prediction: {guess}. Not quite: the answer is {answer}.")
    };
    let v = &r.verdict;
    let why = match q {
        Question::Remaining if v.lost_updates > 0 => {
            let kept = r.tickets.saturating_sub(v.remaining);
            format!(
                " {} told they got a ticket, but the file shows {} of the {} left: it kept {} and forgot {} — lost updates. Buyers read the same count and each wrote back that count minus one, over one another's sales, so the file's count is higher than the sales leave.",
                count(v.sold, "buyer was", "buyers were"),
                v.remaining,
                count(r.tickets, "ticket", "tickets"),
                count(kept, "sale", "sales"),
                v.lost_updates
            )
        }
        Question::Ticket => match r.most_sold_ticket.filter(|t| t.buyers > 1) {
            Some(t) => format!(
                " Ticket #{} went to {} buyers: each read a count of {} and took that number — a double booking ({} sold more than once).",
                t.ticket,
                t.buyers,
                t.ticket,
                count(v.double_booked, "ticket number", "ticket numbers")
            ),
            None => outcome(r),
        },
        _ => outcome(r),
    };
    verdict + &why
}

/// What the run shows, whatever was asked: the oversell, a run that did
/// not complete, a safe lock's one-at-a-time, a lucky run, or the rest of
/// an unsafe verdict.
fn outcome(r: &RunReport) -> String {
    let sold = r.verdict.sold;
    if r.verdict.oversold > 0 {
        format!(
            " {} told they got a ticket, {} more than the {} that exist: they read the count at the same time.",
            count(sold, "buyer was", "buyers were"),
            r.verdict.oversold,
            count(r.tickets, "ticket", "tickets")
        )
    } else if r.verdict.status == Status::Failed {
        format!(
            " But the run did not complete, so it proves nothing: {}.",
            r.summary
        )
    } else if r.verdict.safe && claims_safe(r) {
        format!(
            " The lock let one buyer at a time read and write the count: min({}, {}) = {sold} sold.",
            r.tickets, r.buyers
        )
    } else if r.verdict.safe {
        format!(
            " No anomaly this time — but {} does not claim to be safe: this interleaving happened to be harmless, and one run proves nothing about the others (try `booking check --lock {}`).",
            r.strategy, r.strategy
        )
    } else {
        format!(" No ticket too many, but still unsafe: {}.", r.summary)
    }
}
