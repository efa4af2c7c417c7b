//! Running the real `rbt` as root against the real kernel, triggering events from child
//! processes, and collecting what it prints.
//!
//! Without root, each test prints that it was skipped and passes; with `RBT_E2E=1` (set by
//! `.ci/run`) a missing privilege is a failure instead, so CI cannot skip silently.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, mpsc};
use std::thread;
use std::time::{Duration, Instant};

pub const RBT: &str = env!("CARGO_BIN_EXE_rbt");

/// Tests trace system-wide, so they run one at a time: each holds this lock.
static SERIAL: Mutex<()> = Mutex::new(());

/// The lock to run under when the test may run; None (after saying why) when it may not.
pub fn privileged(test: &str) -> Option<MutexGuard<'static, ()>> {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        if std::env::var_os("RBT_E2E").is_some() {
            panic!("{test}: RBT_E2E is set but the tests are not running as root");
        }
        eprintln!("skipped (needs root): {test}");
        return None;
    }
    Some(SERIAL.lock().unwrap_or_else(|e| e.into_inner()))
}

#[derive(Debug)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub code: Option<i32>,
}

impl Output {
    /// Asserts that some line of stdout equals `line` (surrounding blanks ignored).
    #[track_caller]
    pub fn expect_line(&self, line: &str) {
        assert!(
            self.stdout.lines().any(|l| l.trim() == line.trim()),
            "no line `{line}` in stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
    }

    #[track_caller]
    pub fn expect_stderr(&self, needle: &str) {
        assert!(
            self.stderr.contains(needle),
            "`{needle}` not in stderr:\n{}",
            self.stderr
        );
    }
}

/// A traced child that a panicking test (a trigger that fails, say) must not leave running: an
/// orphaned rbt keeps its probes attached and its inherited file descriptors open.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Runs `rbt ARGS`, waits until its probes are attached, runs `trigger`, then (unless rbt ends
/// by itself within `wait`) sends SIGTERM and collects the output.
pub fn run(args: &[&str], trigger: impl FnOnce(), wait: Duration) -> Output {
    let mut guard = KillOnDrop(
        Command::new(RBT)
            .args(args)
            .env("__BPFTRACE_NOTIFY_PROBES_ATTACHED", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start rbt"),
    );
    let child = &mut guard.0;
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (attached_tx, attached_rx) = mpsc::channel();
    let out_thread = thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line == "__BPFTRACE_NOTIFY_PROBES_ATTACHED" {
                let _ = attached_tx.send(());
                continue;
            }
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let err_thread = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    if attached_rx.recv_timeout(Duration::from_secs(20)).is_ok() {
        trigger();
    }
    let deadline = Instant::now() + wait;
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if Instant::now() >= deadline {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let end = Instant::now() + Duration::from_secs(20);
            loop {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                if Instant::now() > end {
                    let _ = child.kill();
                    break;
                }
                thread::sleep(Duration::from_millis(10));
            }
            break child.wait().unwrap().code();
        }
        thread::sleep(Duration::from_millis(10));
    };
    Output {
        stdout: out_thread.join().unwrap(),
        stderr: err_thread.join().unwrap(),
        code,
    }
}

/// Runs rbt on a program that ends by itself (begin-only, exit(), errors).
pub fn run_to_end(args: &[&str]) -> Output {
    run(args, || {}, Duration::from_secs(30))
}

/// The process name of the event source: perl under a name of its own, so that other perl
/// processes on the machine do not count.
pub const COMM: &str = "rbte2eperl";

/// The path of perl under the name `COMM`.
pub fn perl_path() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rbt-e2e-bin-{}", std::process::id()));
    let link = dir.join(COMM);
    if !link.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        let perl = ["/usr/bin/perl", "/bin/perl"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("no perl");
        let _ = std::os::unix::fs::symlink(perl, &link);
    }
    link
}

/// Runs perl code to completion: the event source for most tests (its comm is `COMM`).
pub fn perl(code: &str) {
    let status = Command::new(perl_path())
        .arg("-e")
        .arg(code)
        .status()
        .expect("cannot run perl");
    assert!(status.success());
}

/// A short pause for events to arrive through the ring buffer.
pub fn settle() -> Duration {
    Duration::from_millis(300)
}
