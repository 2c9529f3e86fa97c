//! Output that fits a terminal of [`WIDTH`] columns: prose wrapped at word
//! boundaries, and command lines wrapped with a shell's ` \` continuation,
//! so a wrapped re-run line still pastes into a shell as one command.

/// The widest line any command prints.
pub const WIDTH: usize = 100;

/// `text` after `lead`, wrapped at spaces into lines of at most `width`
/// columns, every line after the first starting with `indent`. A word
/// longer than a line stands alone on its line.
pub fn words(lead: &str, text: &str, width: usize, indent: &str) -> String {
    fill(
        lead,
        text.split(' ').filter(|w| !w.is_empty()),
        width,
        indent,
        "",
    )
}

/// `pieces` joined by spaces after `lead` into lines of at most `width`
/// columns (less the `end` a line that goes on carries), every line after
/// the first starting with `indent`; a piece longer than a line stands
/// alone.
fn fill<'a>(
    lead: &str,
    pieces: impl Iterator<Item = impl AsRef<str> + 'a>,
    width: usize,
    indent: &str,
    end: &str,
) -> String {
    let mut lines = Vec::new();
    let mut line = lead.to_string();
    // Whether `line` holds nothing but its lead or indent yet.
    let mut fresh = true;
    for piece in pieces {
        let piece = piece.as_ref();
        if !fresh && columns(&line) + 1 + columns(piece) + columns(end) > width {
            lines.push(std::mem::take(&mut line) + end);
            line.push_str(indent);
            fresh = true;
        }
        if !fresh {
            line.push(' ');
        }
        line.push_str(piece);
        fresh = false;
    }
    lines.push(line);
    lines.join("\n")
}

/// The shell command `command` after `lead`, wrapped with ` \` at the end
/// of each line but the last, so that no line passes `width` columns, every
/// line after the first starting with `indent`. Breaks fall before a flag (`--x`),
/// never between a flag and its value, where they can.
pub fn command(lead: &str, command: &str, width: usize, indent: &str) -> String {
    // Pieces: a flag with its value, or a lone word.
    let mut pieces: Vec<String> = Vec::new();
    for word in command.split(' ').filter(|w| !w.is_empty()) {
        match pieces.last_mut() {
            Some(last)
                if !word.starts_with("--") && last.starts_with("--") && !last.contains(' ') =>
            {
                last.push(' ');
                last.push_str(word);
            }
            _ => pieces.push(word.to_string()),
        }
    }
    fill(lead, pieces.iter(), width, indent, " \\")
}

/// Columns `s` takes (one per character).
fn columns(s: &str) -> usize {
    s.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prose_wraps_at_spaces_within_the_width() {
        let text = "every strategy that claims to be safe was safe in every scenario of this long check run";
        let wrapped = words("", text, 30, "  ");
        assert!(
            wrapped.lines().all(|l| l.chars().count() <= 30),
            "{wrapped}"
        );
        assert!(wrapped.lines().skip(1).all(|l| l.starts_with("  ")));
        assert_eq!(
            wrapped.split_whitespace().collect::<Vec<_>>(),
            text.split_whitespace().collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_command_wraps_between_flags_and_pastes_as_one() {
        let cmd = "booking --buyers 150 --lock alice-sem --tickets 100 --delay 1ms..5ms --seed 3189119606820491 --timeout 2s --spawners 2";
        let wrapped = command("re-run: ", cmd, 60, "    ");
        assert!(wrapped.starts_with("re-run: booking --buyers 150"));
        assert!(
            wrapped.lines().all(|l| l.chars().count() <= 60),
            "{wrapped}"
        );
        let lines: Vec<&str> = wrapped.lines().collect();
        assert!(lines.len() > 1);
        assert!(lines[..lines.len() - 1].iter().all(|l| l.ends_with(" \\")));
        // What a shell makes of it: the continuations joined.
        let joined = wrapped.replace(" \\\n", " ").replacen("re-run: ", "", 1);
        assert_eq!(
            joined.split_whitespace().collect::<Vec<_>>(),
            cmd.split_whitespace().collect::<Vec<_>>()
        );
        // A flag keeps its value.
        assert!(!wrapped.contains("--seed \\"));
        assert_eq!(
            command("", "booking --buyers 2", 60, "  "),
            "booking --buyers 2"
        );
    }
}
