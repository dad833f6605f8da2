//! The operating system's process-level knobs, in one place: signal dispositions, the stop
//! signals a long-running command honours, a child in its own session, an advisory file lock
//! and the caller's account. This is the only module where `unsafe` is allowed (the crate
//! denies it everywhere else); each block says why it is sound.
#![allow(unsafe_code)]

use std::os::unix::process::CommandExt;
use tokio_util::sync::CancellationToken;

/// What a write to a closed pipe does to the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigPipe {
    /// End quietly, like other Unix tools (`elt-console status | head`), instead of failing a
    /// print. Set at start-up.
    Default,
    /// Keep going with EPIPE on the write: a deploy or watcher must not die halfway because
    /// the terminal reading its output went away.
    Ignore,
}

/// Sets SIGPIPE's disposition for the whole process.
pub fn set_sigpipe(mode: SigPipe) {
    let disposition = match mode {
        SigPipe::Default => libc::SIG_DFL,
        SigPipe::Ignore => libc::SIG_IGN,
    };
    // SAFETY: changing a signal's disposition to one of the two built-in ones installs no
    // handler code, so nothing can run in signal context.
    unsafe {
        libc::signal(libc::SIGPIPE, disposition);
    }
}

/// The child started by `cmd` leads a new session (`setsid`), so the terminal's hangup and
/// the dashboard's exit do not reach it.
pub fn new_session_for_child(cmd: &mut std::process::Command) {
    // SAFETY: the closure runs between fork and exec; setsid is async-signal-safe and
    // touches no state of the parent's (no allocation, no locks).
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Takes an exclusive advisory lock on `file` without waiting: `Ok(false)` when another
/// process holds it. The lock goes with the file when it is closed.
pub fn try_lock_exclusive(file: &std::fs::File) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor owned by `file`, which outlives the call.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(err)
    }
}

/// The real user id of this process.
pub fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// The account name of `uid` from the password database.
pub fn user_name(uid: u32) -> Option<String> {
    // SAFETY: getpwuid returns null or a pointer into static storage that stays valid until
    // the next getpw* call; the name is copied out at once.
    unsafe {
        let pw = libc::getpwuid(uid);
        if pw.is_null() || (*pw).pw_name.is_null() {
            return None;
        }
        std::ffi::CStr::from_ptr((*pw).pw_name)
            .to_str()
            .ok()
            .map(str::to_string)
    }
}

/// A signal that asks a long-running command (deploy, watch) to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    Interrupt,
    Terminate,
}

impl StopSignal {
    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "SIGINT",
            StopSignal::Terminate => "SIGTERM",
        }
    }
}

/// How a deploy or a watcher treats signals: SIGINT/SIGTERM call `on_stop` and then cancel
/// `stop`; SIGHUP (the SSH session went away) is logged and ignored; SIGPIPE is ignored so a
/// closed stdout fails writes instead of killing the process. Cancel the returned token to stop
/// listening. Without signal support (no tokio signal driver) nothing is installed.
pub fn on_stop_signals(
    stop: CancellationToken,
    on_stop: impl Fn(StopSignal) + Send + 'static,
) -> CancellationToken {
    set_sigpipe(SigPipe::Ignore);
    let done = CancellationToken::new();
    let token = done.clone();
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut hup), Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return done;
    };
    tokio::spawn(async move {
        loop {
            let signal = tokio::select! {
                _ = token.cancelled() => return,
                _ = hup.recv() => {
                    tracing::info!("SIGHUP: the terminal went away; carrying on");
                    continue;
                }
                _ = int.recv() => StopSignal::Interrupt,
                _ = term.recv() => StopSignal::Terminate,
            };
            on_stop(signal);
            stop.cancel();
        }
    });
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_file_is_refused_until_the_first_is_closed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let open = || {
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .unwrap()
        };
        let first = open();
        assert!(try_lock_exclusive(&first).unwrap());
        let second = open();
        assert!(!try_lock_exclusive(&second).unwrap());
        drop(first);
        assert!(try_lock_exclusive(&second).unwrap());
    }

    #[test]
    fn the_current_uid_has_a_name() {
        assert!(user_name(current_uid()).is_some());
    }
}
