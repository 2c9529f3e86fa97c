//! Predict, then see (`--quiz`, `--predict`): the question asked after a
//! run and before its verdict, and the reveal.

use crate::judge::verdict::{Status, count};
use crate::report::RunReport;

/// The question: how many buyers will be told they got a ticket?
pub fn question(r: &RunReport) -> String {
    format!(
        "{} raced for {} under lock {}. How many were told they got a ticket?",
        count(u64::from(r.buyers), "buyer", "buyers"),
        count(r.tickets, "ticket", "tickets"),
        r.strategy
    )
}

/// Whether the run's strategy claims to be safe.
fn claims_safe(r: &RunReport) -> bool {
    crate::lock::find(&r.strategy).is_some_and(|s| s.safe)
}

/// The reveal: whether `guess` was right, and what it means. It never
/// credits a lock with safety it does not claim: a wrong strategy's lucky
/// run is called lucky.
pub fn reveal(r: &RunReport, guess: u64) -> String {
    let sold = r.verdict.sold;
    let verdict = if guess == sold {
        format!("Your prediction: {guess}. Right!")
    } else {
        format!(
            "Your prediction: {guess}. Not quite: {} told they got a ticket.",
            count(sold, "buyer was", "buyers were")
        )
    };
    let why = if r.verdict.oversold > 0 {
        format!(
            " {} more than the {} that exist: they read the count at the same time.",
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
            " The lock let one buyer at a time read and write the count: min({}, {}) = {sold}.",
            r.tickets, r.buyers
        )
    } else if r.verdict.safe {
        format!(
            " No anomaly this time — but {} does not claim to be safe: this interleaving happened to be harmless, and one run proves nothing about the others (try `booking check --lock {}`).",
            r.strategy, r.strategy
        )
    } else {
        format!(" No ticket too many, but still unsafe: {}.", r.summary)
    };
    verdict + &why
}
