//! The comparison as one pretty-printed JSON object.

use super::comparison::Comparison;

/// Renders `c` as JSON, field names as in [`Comparison`].
pub fn render(c: &Comparison) -> String {
    serde_json::to_string_pretty(c).expect("a comparison always serialises") + "\n"
}

/// The registry entry.
pub const EXPORTER: super::Exporter = super::Exporter {
    name: "json",
    extensions: &["json"],
    about: "one JSON object",
    render,
};
