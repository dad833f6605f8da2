//! How the deploy runs its child processes (compose, the backup command) so that a dropped
//! terminal cannot kill them halfway through.
//!
//! When an SSH session drops, its shell gets SIGHUP and passes it on to every job's process
//! group, and the kernel sends SIGHUP to the terminal's foreground process group when the
//! shell exits. The console ignores SIGHUP, but a child that shares its process group would
//! die of it: compose killed mid-recreate leaves the app down, a backup killed mid-write
//! fails the deploy. So each child starts a process group of its own (`setpgid(0, 0)` through
//! std's `process_group(0)`, no `unsafe`): no hangup addressed to the console's job reaches
//! it. The same goes for a terminal's Ctrl-C (SIGINT to the foreground group): it reaches the
//! console only, whose engine decides — cancel before the recreate (dropping the step, which
//! kills the child's whole group through [`GroupKill`]), ignore it afterwards. A new session
//! (setsid) is not needed for children: without a controlling terminal of their own they are
//! as safe in a background group, and their stdin is /dev/null, so they never read the tty.

use std::process::ExitStatus;

/// Put `cmd`'s child into a process group of its own (see the module docs for why).
pub fn own_process_group(cmd: &mut tokio::process::Command) -> &mut tokio::process::Command {
    cmd.process_group(0)
}

/// Kills a child's whole process group when dropped before the child was seen to exit: a
/// cancelled or timed-out step must not leave compose or a backup pipeline (`sh -c 'dump |
/// gzip'` forks) running behind us. `kill_on_drop` alone reaches the direct child only.
///
/// The group id is the child's pid, which cannot be reused while the child is unreaped: the
/// guard signals only before the child's exit was collected, so it never hits a stranger.
pub struct GroupKill {
    pgid: Option<rustix::process::Pid>,
}

impl GroupKill {
    /// Guard the group led by `child` (spawned with [`own_process_group`]).
    pub fn new(child: &tokio::process::Child) -> Self {
        Self {
            pgid: child
                .id()
                .and_then(|id| i32::try_from(id).ok())
                .and_then(rustix::process::Pid::from_raw),
        }
    }

    /// The child exited and was reaped by us: nothing left to kill (and its pid may be reused).
    pub fn exited(&mut self, _status: &ExitStatus) {
        self.pgid = None;
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid.take()
            && let Err(e) = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL)
        {
            // ESRCH: the group is already gone, which is what we wanted.
            if e != rustix::io::Errno::SRCH {
                tracing::warn!("cannot stop the child process group {pgid:?}: {e}");
            }
        }
    }
}
