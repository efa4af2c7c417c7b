//! The REPL, driven through a pseudo-terminal as a person would type at it.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{RBT, privileged, settle};

const TIMEOUT: Duration = Duration::from_secs(30);

/// `rbt` with no arguments on the slave side of a pty; what it writes collects in `screen`.
struct Terminal {
    master: File,
    child: Child,
    /// Everything written to the terminal so far, escape sequences removed.
    screen: Arc<(Mutex<String>, Condvar)>,
    /// How far `expect` has read.
    seen: usize,
    state_home: PathBuf,
}

impl Terminal {
    fn start(test: &str) -> Terminal {
        let state_home =
            std::env::temp_dir().join(format!("rbt-repl-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&state_home);
        std::fs::create_dir_all(&state_home).unwrap();
        let (mut master, mut slave) = (0, 0);
        let size = libc::winsize {
            ws_row: 40,
            ws_col: 200,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: openpty writes two descriptors; both are then owned by Files.
        let (master, slave) = unsafe {
            let rc = libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &size,
            );
            assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
            for fd in [master, slave] {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
            (File::from_raw_fd(master), File::from_raw_fd(slave))
        };
        let mut command = Command::new(RBT);
        command
            .env("TERM", "xterm")
            .env("XDG_STATE_HOME", &state_home)
            .env_remove("__BPFTRACE_NOTIFY_PROBES_ATTACHED")
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: only async-signal-safe calls between fork and exec: a new session whose
        // controlling terminal is the pty, so Ctrl-C there is a SIGINT to rbt.
        unsafe {
            command.pre_exec(|| {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY, 0);
                Ok(())
            });
        }
        let child = command.spawn().expect("cannot start rbt");
        drop(command);

        let screen = Arc::new((Mutex::new(String::new()), Condvar::new()));
        let mut reader = master.try_clone().unwrap();
        let shared = screen.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends with EIO once rbt has exited and closed the slave side.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let (text, changed) = &*shared;
                text.lock()
                    .unwrap()
                    .push_str(&strip_escapes(&String::from_utf8_lossy(&buf[..n])));
                changed.notify_all();
            }
        });
        Terminal {
            master,
            child,
            screen,
            seen: 0,
            state_home,
        }
    }

    /// Waits until `needle` appears after what was already expected, and moves past it.
    #[track_caller]
    fn expect(&mut self, needle: &str) {
        let deadline = Instant::now() + TIMEOUT;
        let (text, changed) = &*self.screen;
        let mut screen = text.lock().unwrap();
        loop {
            if let Some(at) = screen[self.seen..].find(needle) {
                self.seen += at + needle.len();
                return;
            }
            let now = Instant::now();
            if now >= deadline {
                panic!(
                    "`{needle}` did not appear; after what was expected:\n{}\n--- whole screen:\n{}",
                    &screen[self.seen..],
                    *screen
                );
            }
            screen = changed.wait_timeout(screen, deadline - now).unwrap().0;
        }
    }

    /// Types `keys` (Enter is "\r", Ctrl-C "\x03", Ctrl-D "\x04").
    fn send(&mut self, keys: &str) {
        self.master.write_all(keys.as_bytes()).unwrap();
        self.master.flush().unwrap();
    }

    /// Types one line at the prompt and presses Enter.
    fn line(&mut self, text: &str) {
        self.send(text);
        self.send("\r");
    }

    fn wait_exit(&mut self) -> Option<i32> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() >= deadline {
                panic!(
                    "rbt did not exit; screen:\n{}",
                    self.screen.0.lock().unwrap()
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.state_home);
    }
}

/// Removes terminal escape sequences (CSI `ESC [ ... final`, and two-byte `ESC x`) and carriage
/// returns, which rustyline writes around every redraw.
fn strip_escapes(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                if chars.next() == Some('[') {
                    for c in chars.by_ref() {
                        if ('\x40'..='\x7e').contains(&c) {
                            break;
                        }
                    }
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

#[test]
fn repl_multi_line_program_runs() {
    let Some(_serial) = privileged("repl_multi_line_program_runs") else {
        return;
    };
    let mut t = Terminal::start("multi");
    t.expect("rbt> ");
    t.line("begin {");
    t.expect("...> ");
    t.line(r#"  printf("multi %d\n", 40 + 2);"#);
    t.expect("...> ");
    t.line("  exit(); }");
    t.expect("multi 42");
    t.expect("rbt> ");
    // Up recalls the whole three-line program as one history entry.
    t.send("\x1b[A\r");
    t.expect("multi 42");
    t.expect("rbt> ");
    // Ctrl-C clears a line typed at the prompt, as in a shell.
    t.send("begin { garbage");
    t.send("\x03");
    t.expect("rbt> ");
    // Ctrl-C drops a half-typed program: what follows runs on its own.
    t.line("begin { @never = count();");
    t.expect("...> ");
    t.send("\x03");
    t.expect("rbt> ");
    t.line(r#"begin { printf("after %d\n", 6 * 7); exit(); }"#);
    t.expect("after 42");
    t.expect("rbt> ");
    t.send("\x04");
    assert_eq!(t.wait_exit(), Some(0));
    let history = std::fs::read_to_string(t.state_home.join("rbt/history")).unwrap();
    assert!(history.contains("exit(); }"), "history:\n{history}");
}

#[test]
fn repl_compile_error_then_prompt() {
    let Some(_serial) = privileged("repl_compile_error_then_prompt") else {
        return;
    };
    let mut t = Terminal::start("error");
    t.expect("rbt> ");
    t.line("begin { @x = cout(); }");
    t.expect("unknown function `cout`");
    t.expect("rbt> ");
    t.line("tracepoint:syscalls:sys_enter_opnat { }");
    t.expect("sys_enter_opnat does not exist");
    t.expect("rbt> ");
    if !std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists() {
        // A failure to attach is shown at its probe too, and the REPL goes on.
        t.line("kprobe:tcp_connect { @[comm] = count(); }");
        t.expect("this kernel has no kprobe support");
        t.expect("rbt> ");
    }
    t.line(r#"begin { printf("still %d\n", 1 + 1); exit(); }"#);
    t.expect("still 2");
    t.expect("rbt> ");
    t.send("\x04");
    assert_eq!(t.wait_exit(), Some(0));
}

#[test]
fn repl_ctrl_c_stops_a_tracepoint_program_twice() {
    let Some(_serial) = privileged("repl_ctrl_c_stops_a_tracepoint_program_twice") else {
        return;
    };
    let mut t = Terminal::start("trace");
    // Other tests on this machine may run `perl` too: this one's perl has a comm of its own.
    let replperl = t.state_home.join("replperl");
    std::os::unix::fs::symlink(which_perl(), &replperl).unwrap();
    for calls in [10, 7] {
        t.expect("rbt> ");
        if calls == 7 {
            // A SIGINT at the prompt (not a Ctrl-C key) must not stay pending and stop the
            // next program as soon as it starts: that program must still count its events.
            // SAFETY: signalling our own child.
            unsafe { libc::kill(t.child.id() as i32, libc::SIGINT) };
            thread::sleep(Duration::from_millis(300));
        }
        t.line(r#"tracepoint:syscalls:sys_enter_getpid /comm == "replperl"/ { @ = count(); }"#);
        t.expect("Attached 1 probe");
        let status = Command::new(&replperl)
            .arg("-e")
            .arg(format!("syscall(39) for 1..{calls}"))
            .status()
            .expect("cannot run perl");
        assert!(status.success());
        thread::sleep(settle());
        t.send("\x03");
        t.expect(&format!("@: {calls}\n"));
    }
    t.expect("rbt> ");
    t.line(r#"begin { printf("third %d\n", 3 * 3); exit(); }"#);
    t.expect("third 9");
    t.expect("rbt> ");
    t.send("\x04");
    assert_eq!(t.wait_exit(), Some(0));
}

fn which_perl() -> PathBuf {
    ["/usr/bin/perl", "/bin/perl", "/usr/local/bin/perl"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("no perl")
}
