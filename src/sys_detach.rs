//! The one `unsafe` that `deploy --detach` needs: `setsid` between fork and exec. Kept alone
//! in this file so it can join src/sys.rs (the crate's single home for `unsafe`) as it is.

use std::os::unix::process::CommandExt;

/// Start `cmd`'s child in a new session: no controlling terminal, its own process group, so
/// no hangup, Ctrl-C or job-control signal of the operator's terminal can ever reach it.
pub fn new_session(cmd: &mut std::process::Command) -> &mut std::process::Command {
    // SAFETY: the closure runs in the forked child before exec; it makes one system call
    // (setsid, async-signal-safe), allocates nothing and touches no state of the parent.
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        })
    }
}
