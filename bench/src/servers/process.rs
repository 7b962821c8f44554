//! Server processes started by the benchmark. Each runs in its own process group, so that the
//! whole tree it starts (the devnet and its nodes) is signalled at once, and so that Ctrl-C in the
//! terminal reaches only the benchmark, which then stops them itself. Nothing else is signalled:
//! only the groups whose leaders this module spawned.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::Context;
use tokio::process::{Child, Command};

/// A child process leading its own process group.
pub struct ProcessGroup {
    name: String,
    child: Child,
    pgid: u32,
    log: PathBuf,
    stopped: bool,
}

impl ProcessGroup {
    /// Spawns `command` as the leader of a new process group, stdin closed, stderr to `log`, and
    /// stdout to `log` as well unless `pipe_stdout` asks for a pipe.
    pub fn spawn(
        name: &str,
        mut command: Command,
        log: &Path,
        pipe_stdout: bool,
    ) -> anyhow::Result<Self> {
        let file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let stdout = if pipe_stdout {
            Stdio::piped()
        } else {
            Stdio::from(file.try_clone()?)
        };
        command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(file)
            .kill_on_drop(false);
        let child = command
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        let pgid = child
            .id()
            .context("the child exited before it could be tracked")?;
        Ok(Self {
            name: name.to_owned(),
            child,
            pgid,
            log: log.to_owned(),
            stopped: false,
        })
    }

    /// The process id of the group leader (also the group id).
    pub fn pid(&self) -> u32 {
        self.pgid
    }

    /// The leader's mutable handle, e.g. to take a piped stdout.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// The leader's exit status if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last `lines` lines of the log, to explain a failure.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        let tail = all[all.len().saturating_sub(lines)..].join("\n");
        format!("--- last lines of {} ---\n{tail}", self.log.display())
    }

    /// Sends `signal` (a name for `kill -s`, e.g. `INT`, `TERM`) to the group, waits up to `grace`
    /// for the leader to exit, then kills whatever is left of the group.
    pub async fn stop(&mut self, signal: &str, grace: Duration) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        if self.exited().is_none() {
            self.signal_group(signal);
            if tokio::time::timeout(grace, self.child.wait())
                .await
                .is_err()
            {
                eprintln!(
                    "{} (pid {}) still running after {grace:?}; killing it",
                    self.name, self.pgid
                );
            }
        }
        // Members of the group that outlived their leader, if any.
        self.signal_group("KILL");
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// `kill -s SIGNAL -- -PGID`: the whole group this module started, nothing else.
    fn signal_group(&mut self, signal: &str) {
        let sent = std::process::Command::new("kill")
            .args(["-s", signal, "--", &format!("-{}", self.pgid)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if sent.is_err() {
            // No `kill` command to run: at least the leader goes.
            let _ = self.child.start_kill();
        }
    }
}

impl Drop for ProcessGroup {
    /// On an early return or a panic: the group is killed, never left behind.
    fn drop(&mut self) {
        if !self.stopped {
            self.signal_group("KILL");
            let _ = self.child.start_kill();
        }
    }
}
