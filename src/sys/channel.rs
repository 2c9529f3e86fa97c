//! The outcome channel: how every buyer's record reaches the parent, and
//! how the parent knows which process sent it.
//!
//! One `socketpair(AF_UNIX, SOCK_SEQPACKET)` for the whole run, not one
//! descriptor per buyer (a run of thousands of buyers stays under the
//! default limit of 1,024 open files). The parent keeps one end, every
//! buyer inherits the other:
//!
//! * **one record, one message**: a sequenced-packet socket keeps message
//!   boundaries, so records never interleave whatever their size;
//! * **the kernel names the sender**: `SO_PASSCRED` on the parent's end
//!   makes the kernel attach the sending process's pid to every message
//!   (`SCM_CREDENTIALS`). A process may claim another pid only with
//!   `CAP_SYS_ADMIN`, so a buyer (or a strategy's stray child) cannot
//!   write a record in another buyer's name — the parent compares the
//!   sender with the pid it forked for that buyer;
//! * **end-of-file** when every buyer has closed its end (exited), as with
//!   a pipe.

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType, UnixCredentials, recvmsg,
    send, setsockopt, socketpair, sockopt,
};
use nix::unistd::Pid;

/// The parent's end.
pub struct Receiver(OwnedFd);

/// A buyer's end.
pub struct Sender(OwnedFd);

/// Makes the channel: both ends close on `exec`; the receiver asks for the
/// sender's credentials.
///
/// # Errors
/// Any error of `socketpair` or `setsockopt`.
pub fn channel() -> nix::Result<(Receiver, Sender)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    setsockopt(&a, sockopt::PassCred, &true)?;
    Ok((Receiver(a), Sender(b)))
}

impl Sender {
    /// Sends one record as one message. `MSG_NOSIGNAL`: a parent that is
    /// gone gives `EPIPE`, not a signal.
    ///
    /// # Errors
    /// Any error of `send` other than `EINTR` (retried).
    pub fn send(&self, record: &[u8]) -> nix::Result<()> {
        loop {
            match send(self.0.as_raw_fd(), record, MsgFlags::MSG_NOSIGNAL) {
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e),
                Ok(_) => return Ok(()),
            }
        }
    }
}

/// What one receive gave.
pub enum Received {
    /// A message: its length in the buffer, the sender's pid as the kernel
    /// tells it, and whether it was cut (longer than the buffer).
    Message {
        /// Bytes in the buffer.
        len: usize,
        /// The sending process, from `SCM_CREDENTIALS`.
        sender: Option<Pid>,
        /// Longer than the buffer: cut, and so not a record.
        truncated: bool,
    },
    /// Every sender has closed its end.
    Closed,
    /// Nothing now (non-blocking only), or a signal interrupted the wait.
    Nothing,
}

impl Receiver {
    /// Receives one message into `buf`.
    ///
    /// # Errors
    /// Any error of `recvmsg` other than `EINTR` and `EAGAIN`.
    pub fn recv(&self, buf: &mut [u8]) -> nix::Result<Received> {
        let mut cmsg = nix::cmsg_space!(UnixCredentials);
        let mut iov = [IoSliceMut::new(buf)];
        let msg = match recvmsg::<()>(
            self.0.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(Errno::EINTR | Errno::EAGAIN) => return Ok(Received::Nothing),
            Err(e) => return Err(e),
            Ok(m) => m,
        };
        // Control data that does not fit (a message that passes
        // descriptors) gives no sender: the record is rejected, the run
        // goes on.
        let sender = msg.cmsgs().ok().and_then(|mut all| {
            all.find_map(|c| match c {
                ControlMessageOwned::ScmCredentials(cred) => Some(Pid::from_raw(cred.pid())),
                _ => None,
            })
        });
        // End-of-file reads 0 bytes with no credentials; an empty message
        // sent on purpose still carries its sender's.
        if msg.bytes == 0 && sender.is_none() {
            return Ok(Received::Closed);
        }
        Ok(Received::Message {
            len: msg.bytes,
            sender,
            truncated: msg.flags.contains(MsgFlags::MSG_TRUNC),
        })
    }

    /// Makes receives return [`Received::Nothing`] instead of waiting.
    ///
    /// # Errors
    /// Any error of `fcntl`.
    pub fn set_nonblocking(&self) -> nix::Result<()> {
        use nix::fcntl::{FcntlArg, OFlag, fcntl};
        fcntl(&self.0, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).map(drop)
    }
}

impl AsFd for Receiver {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}
