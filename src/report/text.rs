//! The comparison as aligned plain text, for the terminal: two tables that
//! each fit in 100 columns — what the runs proved, then what they cost —
//! and the legend, one item a line.

use super::comparison::Comparison;
use super::table;

/// The columns of each table: safety, then cost (the strategy in both).
const SAFETY: [usize; 5] = [0, 1, 2, 3, 4];
const COST: [usize; 7] = [0, 5, 6, 7, 8, 9, 10];

/// The `columns` of `rows`, padded to their widest cell.
fn block(rows: &[[String; table::COLUMNS]], columns: &[usize]) -> String {
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([table::HEADERS[i].chars().count()])
            .max()
            .unwrap_or(0)
    };
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(columns)
            .map(|(c, &i)| format!("{c}{}", " ".repeat(width(i) - c.chars().count())))
            .collect();
        padded.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(columns.iter().map(|&i| table::HEADERS[i]).collect());
    for r in rows {
        out += &line(columns.iter().map(|&i| r[i].as_str()).collect());
    }
    out
}

/// Renders `c` as two aligned tables and the legend.
pub fn render(c: &Comparison) -> String {
    let rows = table::rows(c);
    let mut out = table::title(c) + "\n";
    out += &block(&rows, &SAFETY);
    out += "\n";
    out += &block(&rows, &COST);
    for item in table::LEGEND.split(" · ") {
        out += &format!("  {item}\n");
    }
    out
}

/// The registry entry.
pub const EXPORTER: super::Exporter = super::Exporter {
    name: "text",
    extensions: &["txt", ""],
    about: "two aligned tables (what the runs proved, what they cost), for the terminal",
    render,
};
