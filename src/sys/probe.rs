//! Does a server answer? Before a run trusts a server with its stock or its
//! lock, the parent sends it one greeting its protocol answers at once and
//! waits a few seconds for the first byte of the answer. A wrong port that
//! reaches another service, a stopped server (the kernel still accepts its
//! connections into the listen backlog, and nothing ever answers) or a
//! black-holed address then cost those seconds and one clear line, instead
//! of a client library that waits for ever without a timeout of its own.
//!
//! Every wait is in slices of at most [`SLICE`], with the stop flag looked
//! at between them (see [`super::signals`]): Ctrl-C ends a probe at once.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

/// The longest single wait of a probe.
pub const SLICE: Duration = Duration::from_millis(100);

/// Where a server listens.
#[derive(Clone, Debug)]
pub enum Endpoint {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A Unix socket's path.
    Unix(PathBuf),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Tcp(a) => write!(f, "{a}"),
            Endpoint::Unix(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Why a server did not answer.
#[derive(Debug)]
pub enum Silence {
    /// The connection itself failed (refused, no route, no such socket).
    Unreachable(io::Error),
    /// Connected, but no byte came back in time.
    Silent,
    /// Connected, and the server closed the connection without a word.
    Closed,
    /// A stop signal arrived meanwhile.
    Stopped(Signal),
}

/// Connects to `at`, sends `hello`, and returns the first line of what
/// the first read of the answer brought (at most 256 bytes), all within
/// `within`.
///
/// # Errors
/// What kept the server from answering ([`Silence`]).
pub fn answer(at: &Endpoint, hello: &[u8], within: Duration) -> Result<String, Silence> {
    let deadline = Instant::now() + within;
    let left = || deadline.saturating_duration_since(Instant::now());
    let stopped = || super::stop_signal().map_or(Ok(()), |s| Err(Silence::Stopped(s)));
    let mut stream: Box<dyn Stream> = match at {
        Endpoint::Tcp(addr) => loop {
            stopped()?;
            match TcpStream::connect_timeout(addr, left().min(SLICE).max(Duration::from_millis(1)))
            {
                Ok(s) => break Box::new(s),
                Err(e) if e.kind() == io::ErrorKind::TimedOut && !left().is_zero() => {}
                Err(e) if e.kind() == io::ErrorKind::TimedOut => return Err(Silence::Silent),
                Err(e) => return Err(Silence::Unreachable(e)),
            }
        },
        Endpoint::Unix(path) => Box::new(UnixStream::connect(path).map_err(Silence::Unreachable)?),
    };
    stream.write_all(hello).map_err(|_| Silence::Closed)?;
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        stopped()?;
        if left().is_zero() {
            return Err(Silence::Silent);
        }
        stream
            .timeout(left().min(SLICE))
            .map_err(Silence::Unreachable)?;
        match stream.read(&mut buf) {
            Ok(0) => return Err(Silence::Closed),
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                break;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => return Err(Silence::Closed),
        }
    }
    let line = got.split(|b| *b == b'\n').next().unwrap_or(&[]);
    Ok(String::from_utf8_lossy(line).trim_end().to_string())
}

/// A connected stream whose reads can time out.
trait Stream: Read + Write {
    fn timeout(&self, t: Duration) -> io::Result<()>;
}

impl Stream for TcpStream {
    fn timeout(&self, t: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(t))
    }
}

impl Stream for UnixStream {
    fn timeout(&self, t: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn a_listener_that_never_answers_is_silent_in_time() {
        let quiet = TcpListener::bind("127.0.0.1:0").unwrap();
        let at = Endpoint::Tcp(quiet.local_addr().unwrap());
        let started = Instant::now();
        let got = answer(&at, b"PING\r\n", Duration::from_millis(300));
        assert!(matches!(got, Err(Silence::Silent)), "{got:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn nothing_listening_is_unreachable() {
        let gone = TcpListener::bind("127.0.0.1:0").unwrap();
        let at = Endpoint::Tcp(gone.local_addr().unwrap());
        drop(gone);
        let got = answer(&at, b"PING\r\n", Duration::from_millis(300));
        assert!(matches!(got, Err(Silence::Unreachable(_))), "{got:?}");
    }
}
