//! Turning the numbers the kernel recorded for `Type::Rendered` values into text: stacks and
//! symbols (blazesym), addresses, errno and signal descriptions, cgroup paths, user names and
//! timestamps, in bpftrace's words.

use std::cell::RefCell;
use std::collections::HashMap;

use blazesym::Pid;
use blazesym::symbolize::source::{Kernel, Process, Source};
use blazesym::symbolize::{Input, Symbolized, Symbolizer};
use rbt_compiler::types::{Render, StackMode};

use crate::sys::RawMap;

/// Frames of a stack are indented so in maps and printf alike, as bpftrace's `get_stack`.
const STACK_INDENT: usize = 8;

pub struct Renderer {
    symbolizer: Symbolizer,
    /// The stack-trace map, when the script records stacks.
    stacks: Option<RawMap>,
    /// Wall-clock nanoseconds at boot: a boot-time stamp plus this is the time of day.
    boot_wall_ns: i128,
    time_formats: Vec<String>,
    /// Names of user ids, read from /etc/passwd once.
    users: RefCell<Option<HashMap<u64, String>>>,
}

impl Renderer {
    pub fn new(stacks: Option<RawMap>, time_formats: Vec<String>) -> Self {
        Renderer {
            symbolizer: Symbolizer::new(),
            stacks,
            boot_wall_ns: boot_wall_ns(),
            time_formats,
            users: RefCell::new(None),
        }
    }

    /// The text of a rendered value laid out at the start of `bytes`.
    pub fn text(&self, r: &Render, bytes: &[u8]) -> String {
        let word = |i: usize| {
            let mut w = [0u8; 8];
            if let Some(b) = bytes.get(i * 8..i * 8 + 8) {
                w.copy_from_slice(b);
            }
            u64::from_le_bytes(w)
        };
        match *r {
            Render::Stack { user, mode, limit } => {
                let id = word(0) as i64;
                let pid = word(1) as u32;
                let frames = self.frames(id, usize::from(limit));
                self.stack_text(&frames, user.then_some(pid), mode)
            }
            Render::Sym { user } => {
                let addr = word(0);
                let pid = word(1) as u32;
                self.symbol(addr, user.then_some(pid), false, false)
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| format!("0x{addr:x}"))
            }
            Render::Inet => inet_text(word(0), bytes.get(8..24).unwrap_or(&[])),
            Render::Errno => errno_text(word(0) as i64 as i32),
            Render::SignalName => signal_text(word(0) as i64 as i32),
            Render::CgroupPath => cgroup_path(word(0)),
            Render::Username => self.username(word(0)),
            Render::Time { format } => {
                let format = self
                    .time_formats
                    .get(format as usize)
                    .map_or("", String::as_str);
                strftime(format, self.boot_wall_ns + i128::from(word(0)))
            }
        }
    }

    /// The addresses of stack `id`, at most `limit`; none for a failed stack capture.
    fn frames(&self, id: i64, limit: usize) -> Vec<u64> {
        let Some(map) = &self.stacks else {
            return Vec::new();
        };
        if id < 0 {
            return Vec::new();
        }
        let Some(value) = map.lookup(&(id as u32).to_le_bytes()) else {
            return Vec::new();
        };
        value
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .take_while(|a| *a != 0)
            .take(limit)
            .collect()
    }

    fn stack_text(&self, frames: &[u64], pid: Option<u32>, mode: StackMode) -> String {
        let mut out = String::from("\n");
        let pad = " ".repeat(STACK_INDENT);
        if let (StackMode::BuildId, Some(pid)) = (mode, pid) {
            for line in build_id_frames(frames, pid) {
                out.push_str(&line);
                out.push('\n');
            }
            return out;
        }
        for &addr in frames {
            match mode {
                StackMode::Raw | StackMode::BuildId => out.push_str(&format!("{addr:x}\n")),
                StackMode::Bpftrace => {
                    for sym in self.symbol(addr, pid, true, false) {
                        out.push_str(&format!("{pad}{sym}\n"));
                    }
                }
                StackMode::Perf => {
                    for sym in self.symbol(addr, pid, true, true) {
                        out.push_str(&format!("\t{addr:x} {sym}\n"));
                    }
                }
            }
        }
        out
    }

    /// The names of the function at `addr` (inlined callers after the outermost one, as
    /// bpftrace lists them) of the kernel or of process `pid`; the address in hex when unknown.
    fn symbol(&self, addr: u64, pid: Option<u32>, offset: bool, perf: bool) -> Vec<String> {
        let src = match pid {
            Some(pid) => Source::Process(Process::new(Pid::from(pid))),
            None => Source::Kernel(Kernel::default()),
        };
        let unknown = || {
            let mut s = format!("0x{addr:x}");
            if perf {
                s.push_str(" ([unknown])");
            }
            vec![s]
        };
        let Ok(Symbolized::Sym(sym)) = self.symbolizer.symbolize_single(&src, Input::AbsAddr(addr))
        else {
            return unknown();
        };
        let mut text = sym.name.to_string();
        if offset {
            text.push_str(&format!("+{}", sym.offset));
        }
        if perf {
            match &sym.module {
                Some(m) => text.push_str(&format!(" ({})", m.to_string_lossy())),
                None => text.push_str(" ([unknown])"),
            }
        } else if offset
            && let Some(code) = &sym.code_info
            && let Some(line) = code.line
        {
            text.push_str(&format!("@{}:{line}", code.to_path().display()));
        }
        vec![text]
    }

    fn username(&self, uid: u64) -> String {
        let mut users = self.users.borrow_mut();
        let users = users.get_or_insert_with(|| {
            std::fs::read_to_string("/etc/passwd")
                .unwrap_or_default()
                .lines()
                .filter_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    Some((f.get(2)?.parse().ok()?, f[0].to_string()))
                })
                .collect()
        });
        users.get(&uid).cloned().unwrap_or_default()
    }
}

/// User frames as bpftrace's build_id mode prints them: the module's build id (20 bytes in hex,
/// as the kernel's `bpf_stack_build_id` holds it) and the offset in its file; the address when
/// the module has no build id.
fn build_id_frames(frames: &[u64], pid: u32) -> Vec<String> {
    use blazesym::normalize::{Normalizer, UserMeta};
    let hex = |a: &u64| format!("{a:x}");
    let normalizer = Normalizer::new();
    let Ok(normalized) = normalizer.normalize_user_addrs(Pid::from(pid), frames) else {
        return frames.iter().map(hex).collect();
    };
    frames
        .iter()
        .zip(&normalized.outputs)
        .map(|(addr, (offset, meta))| match normalized.meta.get(*meta) {
            Some(UserMeta::Elf(elf)) if elf.build_id.is_some() => {
                let mut id = [0u8; 20];
                let given = elf.build_id.as_deref().unwrap_or(&[]);
                let n = given.len().min(20);
                id[..n].copy_from_slice(&given[..n]);
                let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
                format!("{id} 0x{offset:02x}")
            }
            _ => hex(addr),
        })
        .collect()
}

/// CLOCK_REALTIME minus CLOCK_BOOTTIME, in nanoseconds.
fn boot_wall_ns() -> i128 {
    let now = |clock| {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes the timespec it is given.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
    };
    now(libc::CLOCK_REALTIME) - now(libc::CLOCK_BOOTTIME)
}

/// bpftrace's `ntop`: address family 2 is IPv4 (4 bytes), 10 IPv6 (16 bytes).
pub fn inet_text(af: u64, bytes: &[u8]) -> String {
    match (af, bytes.len()) {
        (2, 4..) => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(&bytes[..4]).unwrap_or_default())
            .to_string(),
        (10, 16..) => {
            std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&bytes[..16]).unwrap_or_default())
                .to_string()
        }
        _ => String::new(),
    }
}

/// strerror(3) of an errno, its sign ignored.
pub fn errno_text(errno: i32) -> String {
    // SAFETY: strerror returns a pointer to a NUL-terminated string that stays valid until the
    // next call; it is copied at once and the renderer runs on one thread.
    unsafe {
        let p = libc::strerror(errno.unsigned_abs() as i32);
        std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// strsignal(3) of a signal number; "N/A" outside the signals' range, as bpftrace.
pub fn signal_text(sig: i32) -> String {
    if !(0..=64).contains(&sig) {
        return "N/A".into();
    }
    // SAFETY: as for strerror above.
    unsafe {
        let p = libc::strsignal(sig);
        if p.is_null() {
            return "N/A".into();
        }
        std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// The path of the cgroup v2 whose id (its directory's inode number) is `id`, as bpftrace's
/// `unified:/path`; empty when none has it.
fn cgroup_path(id: u64) -> String {
    let Some(root) = cgroup2_root() else {
        return String::new();
    };
    use std::os::unix::fs::MetadataExt;
    let mut todo = vec![std::path::PathBuf::from(&root)];
    while let Some(dir) = todo.pop() {
        if std::fs::metadata(&dir).is_ok_and(|m| m.ino() == id) {
            let rel = dir.strip_prefix(&root).unwrap_or(&dir);
            return format!("unified:/{}", rel.display());
        }
        if let Ok(entries) = std::fs::read_dir(&dir) {
            todo.extend(
                entries
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path()),
            );
        }
    }
    String::new()
}

fn cgroup2_root() -> Option<String> {
    std::fs::read_to_string("/proc/mounts")
        .ok()?
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(2) == Some(&"cgroup2")).then(|| f[1].to_string())
        })
}

/// A wall-clock time (nanoseconds since the epoch) in a strftime(3) format, local time, with
/// bpftrace's extensions `%f` (microseconds, 6 digits), `%k` (nanoseconds, 9) and `%l`
/// (milliseconds, 3).
pub fn strftime(format: &str, ns: i128) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000);
    let format = format
        .replace("%f", &format!("{:06}", frac / 1000))
        .replace("%k", &format!("{frac:09}"))
        .replace("%l", &format!("{:03}", frac / 1_000_000));
    let Ok(cformat) = std::ffi::CString::new(format) else {
        return String::new();
    };
    let time = secs as libc::time_t;
    let mut buf = vec![0u8; 512];
    // SAFETY: localtime_r and strftime get valid pointers and the buffer's real size.
    let written = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&time, &mut tm).is_null() {
            return String::new();
        }
        libc::strftime(buf.as_mut_ptr().cast(), buf.len(), cformat.as_ptr(), &tm)
    };
    String::from_utf8_lossy(&buf[..written]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inet_forms() {
        assert_eq!(inet_text(2, &[127, 0, 0, 1]), "127.0.0.1");
        assert_eq!(inet_text(2, &1u32.to_le_bytes()), "1.0.0.0");
        let mut v6 = [0u8; 16];
        v6[15] = 1;
        assert_eq!(inet_text(10, &v6), "::1");
        assert_eq!(inet_text(7, &v6), "");
    }

    #[test]
    fn errno_and_signal_words() {
        assert_eq!(errno_text(22), "Invalid argument");
        assert_eq!(errno_text(-1), "Operation not permitted");
        assert_eq!(signal_text(2), "Interrupt");
        assert_eq!(signal_text(0), "Unknown signal 0");
        assert_eq!(signal_text(1024), "N/A");
    }

    #[test]
    fn strftime_sub_second_extensions() {
        // %s is the epoch second, so these do not depend on the time zone.
        assert_eq!(strftime("%s.%f", 123_000), "0.000123");
        assert_eq!(strftime("%s.%f", 1_000_123_000), "1.000123");
        assert_eq!(strftime("%s.%l.%k", 2_500_000_001), "2.500.500000001");
    }

    #[test]
    fn libc_function_of_this_process() {
        let r = Renderer::new(None, Vec::new());
        let addr = libc::getppid as *const () as usize as u64;
        let perf = r.symbol(addr, Some(std::process::id()), true, true);
        assert!(
            perf[0].contains("getppid+0 (") && perf[0].ends_with("libc.so.6)"),
            "{perf:?}"
        );
        let mut bytes = addr.to_le_bytes().to_vec();
        bytes.extend(u64::from(std::process::id()).to_le_bytes());
        assert!(
            r.text(&Render::Sym { user: true }, &bytes)
                .ends_with("getppid")
        );
    }

    #[test]
    fn build_id_frames_name_the_module_and_offset() {
        let addr = libc::getppid as *const () as usize as u64;
        let lines = build_id_frames(&[addr], std::process::id());
        let (id, offset) = lines[0].split_once(' ').unwrap();
        assert_eq!(id.len(), 40, "{lines:?}");
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{lines:?}");
        assert!(offset.starts_with("0x"), "{lines:?}");
    }

    #[test]
    fn unknown_kernel_address_prints_hex() {
        let r = Renderer::new(None, Vec::new());
        assert_eq!(
            r.text(&Render::Sym { user: false }, &1u64.to_le_bytes()),
            "0x1"
        );
    }
}
