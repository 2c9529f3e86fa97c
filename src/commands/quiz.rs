//! Predict, then see (`--quiz`, `--predict`): the question asked after a
//! run and before its verdict, and the reveal.

use crate::report::RunReport;

/// The question: how many buyers will be told they got a ticket?
pub fn question(r: &RunReport) -> String {
    format!(
        "{} buyers raced for {} ticket{} under lock {}. How many were told they got a ticket?",
        r.buyers,
        r.tickets,
        if r.tickets == 1 { "" } else { "s" },
        r.strategy
    )
}

/// The reveal: whether `guess` was right, and what it means.
pub fn reveal(r: &RunReport, guess: u64) -> String {
    let sold = r.verdict.sold;
    let verdict = if guess == sold {
        format!("Your prediction: {guess}. Right!")
    } else {
        format!("Your prediction: {guess}. Not quite: {sold} buyers were told they got a ticket.")
    };
    let why = if r.verdict.oversold > 0 {
        format!(
            " {} more than the {} tickets that exist: they read the count at the same time.",
            r.verdict.oversold, r.tickets
        )
    } else if r.verdict.safe {
        format!(
            " The lock let one buyer at a time read and write the count: min({}, {}) = {sold}.",
            r.tickets, r.buyers
        )
    } else {
        format!(" No ticket too many, but still unsafe: {}.", r.summary)
    };
    verdict + &why
}
