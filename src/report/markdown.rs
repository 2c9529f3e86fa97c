//! The comparison as a Markdown table, for READMEs and lab reports.

use super::comparison::Comparison;
use super::table;

/// Renders `c` as a title line and a GitHub-flavoured Markdown table.
pub fn render(c: &Comparison) -> String {
    let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
    let mut out = format!("{}\n\n", table::title(c));
    out += &line(&table::HEADERS.map(String::from));
    out += &line(&table::HEADERS.map(|_| "---".to_string()));
    for r in table::rows(c) {
        out += &line(&r);
    }
    out += &format!("\n{}\n", table::LEGEND);
    out
}

/// The registry entry.
pub const EXPORTER: super::Exporter = super::Exporter {
    name: "markdown",
    extensions: &["md", "markdown"],
    about: "a Markdown table",
    render,
};
