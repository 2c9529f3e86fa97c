//! Passwords in server URLs (`--store postgres://user:secret@host/db`,
//! the same in `--pooler`, `--lock-server redis://:secret@host:6379`):
//! never printed. Every message, re-run line and JSON field shows
//! [`redact`]'s form, the password as [`HIDDEN`]; and a URL given with
//! [`HIDDEN`] as its password takes the real one from the environment
//! ([`reveal`]: `PGPASSWORD`, libpq's, for `--store` and `--pooler` alike;
//! `REDISCLI_AUTH`, redis-cli's, for `--lock-server`), so a printed re-run
//! line runs as it is once that variable is set.

/// What a password is shown as.
pub const HIDDEN: &str = "***";

/// Where the password of `url` lies: its byte range, if it has one.
fn password(url: &str) -> Option<std::ops::Range<usize>> {
    let start = url.find("://")? + 3;
    let authority_len = url[start..]
        .find(['/', '?', '#'])
        .unwrap_or(url.len() - start);
    let authority = &url[start..start + authority_len];
    let at = authority.rfind('@')?;
    let colon = authority[..at].find(':')?;
    Some(start + colon + 1..start + at)
}

/// `url` with its password, if any, shown as [`HIDDEN`].
pub fn redact(url: &str) -> String {
    match password(url) {
        Some(range) => format!("{}{HIDDEN}{}", &url[..range.start], &url[range.end..]),
        None => url.to_string(),
    }
}

/// `url`, with a password written as [`HIDDEN`] replaced by the value of
/// the environment variable `var`.
///
/// # Errors
/// When the password is hidden and `var` is unset: a one-line reason.
pub fn reveal(url: &str, var: &str) -> Result<String, String> {
    match password(url) {
        Some(range) if &url[range.clone()] == HIDDEN => match std::env::var(var) {
            Ok(secret) => Ok(format!(
                "{}{secret}{}",
                &url[..range.start],
                &url[range.end..]
            )),
            Err(_) => Err(format!(
                "{}: the password is hidden ({HIDDEN}); set {var} to it",
                redact(url)
            )),
        },
        _ => Ok(url.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_hidden_and_nothing_else() {
        assert_eq!(
            redact("postgres://alice:s3cr:et@db.example:5432/booking?sslmode=disable"),
            "postgres://alice:***@db.example:5432/booking?sslmode=disable"
        );
        assert_eq!(
            redact("redis://:pw@127.0.0.1:6379"),
            "redis://:***@127.0.0.1:6379"
        );
        for plain in [
            "postgres://alice@db/booking",
            "postgres://db/booking",
            "redis://127.0.0.1:6379",
            "postgres://db/a@b",
        ] {
            assert_eq!(redact(plain), plain);
        }
    }

    #[test]
    fn a_hidden_password_comes_from_the_environment() {
        let var = "BOOKING_TEST_SECRET_REVEAL";
        let url = "postgres://alice:***@db/booking";
        // Unset: nothing in the tests sets this variable.
        assert!(reveal(url, var).unwrap_err().contains(var));
        assert_eq!(
            reveal("postgres://a:b@db/x", var).unwrap(),
            "postgres://a:b@db/x"
        );
    }
}
