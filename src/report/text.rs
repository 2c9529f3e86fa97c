//! The comparison as an aligned plain-text table, for the terminal.

use super::table;
use crate::commands::compare::Comparison;

/// Renders `c` with columns padded to their widest cell.
pub fn render(c: &Comparison) -> String {
    let rows = table::rows(c);
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([table::HEADERS[i].chars().count()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..table::HEADERS.len()).map(width).collect();
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        padded.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = table::title(c) + "\n";
    out += &line(&table::HEADERS.map(String::from));
    for r in &rows {
        out += &line(r);
    }
    out += &format!("{}\n", table::LEGEND);
    out
}

/// The registry entry.
pub const EXPORTER: super::Exporter = super::Exporter {
    name: "text",
    extensions: &["txt", ""],
    about: "an aligned table, for the terminal",
    render,
};
