//! Boots Debian's cloud kernel under QEMU once, with a busybox initramfs holding rbt, the C
//! helpers of `helpers/` and every case of `CASES`; runs the cases in that one boot and hands each
//! test its case's stdout, stderr and exit status.
//!
//! Needs `qemu-system-x86_64`, a static busybox, `cpio`, `gzip`, `cc` (static libc) and, unless
//! `RBT_GUEST_KERNEL` names a kernel image, `apt-get` (`apt-get download` of the pinned package,
//! cached under `target/tmp/guest/`). When one is missing the tests say so and pass, unless
//! `RBT_E2E` is set (by `.ci/run`): then that is a failure.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use std::{fs, thread};

/// The guest kernel: Debian bookworm's cloud flavour (kprobes, fentry, BTF, BPF LSM built in; it
/// boots about twice as fast as the generic flavour under TCG). To move it:
/// `apt-get update && apt-cache depends linux-image-cloud-amd64` names the current package and
/// `apt-cache policy <that package>` its version; put both here. The old cache directory under
/// `target/tmp/guest/` can then be deleted.
const KERNEL_PACKAGE: &str = "linux-image-6.1.0-57-cloud-amd64";
const KERNEL_VERSION: &str = "6.1.192-3";

/// How long the guest may take from QEMU's start to running its first case (TCG is slow, and CI
/// machines are shared).
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

const RBT: &str = env!("CARGO_BIN_EXE_rbt");
const WORK: &str = env!("CARGO_TARGET_TMPDIR");
const MARK: &str = "==rbt-guest== ";

/// One case: a shell script run by busybox `sh` as root in the guest, with rbt, busybox's applets
/// and the helpers on PATH, in /tmp, with stdin from /dev/null.
pub struct Case {
    pub name: &'static str,
    pub script: &'static str,
    /// The guest kills the case (SIGKILL) after this long.
    pub timeout_secs: u32,
}

impl Case {
    pub const fn new(name: &'static str, script: &'static str) -> Case {
        Case {
            name,
            script,
            timeout_secs: 60,
        }
    }

    pub const fn timeout(self, secs: u32) -> Case {
        Case {
            timeout_secs: secs,
            ..self
        }
    }
}

/// What a case printed, and its exit status (None when the guest never reported one).
#[derive(Debug, Default)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub code: Option<i32>,
    /// How long the case ran, in the guest's time.
    pub seconds: Option<f64>,
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

    /// Asserts that some line of stdout starts with `start` and, after it, holds `rest`.
    #[track_caller]
    pub fn expect_line_like(&self, start: &str, rest: &str) {
        assert!(
            self.stdout
                .lines()
                .any(|l| l.starts_with(start) && l[start.len()..].contains(rest)),
            "no line `{start}...{rest}...` in stdout:\n{}\nstderr:\n{}",
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

    #[track_caller]
    pub fn expect_code(&self, code: i32) {
        assert_eq!(self.code, Some(code), "exit status, for {self:#?}");
    }
}

/// The outcome of the one boot: each case's output by name, or why the guest could not run.
enum Boot {
    Ran(HashMap<String, Output>),
    Skipped(String),
}

static BOOT: OnceLock<Result<Boot, String>> = OnceLock::new();

/// The output of case `name`, booting the guest (once, for all cases) if needed. None after
/// saying why when the guest cannot run here; a failed boot is a panic with the console's tail.
pub fn case(name: &str) -> Option<&'static Output> {
    assert!(
        crate::CASES.iter().any(|c| c.name == name),
        "bug: case `{name}` is not in CASES"
    );
    let boot = BOOT.get_or_init(|| {
        let started = Instant::now();
        let result = boot_and_run(crate::CASES);
        eprintln!(
            "guest: finished in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        result
    });
    match boot {
        Err(why) => panic!("{name}: the guest failed: {why}"),
        Ok(Boot::Skipped(why)) => {
            if std::env::var_os("RBT_E2E").is_some() {
                panic!("{name}: RBT_E2E is set but the guest cannot run: {why}");
            }
            eprintln!("skipped (no guest: {why}): {name}");
            None
        }
        Ok(Boot::Ran(outputs)) => {
            let Some(out) = outputs.get(name) else {
                panic!("{name}: the guest never ran this case (it stopped earlier)");
            };
            eprintln!(
                "guest case {name}: exit {:?} after {:?} s\n--- stdout\n{}--- stderr\n{}",
                out.code, out.seconds, out.stdout, out.stderr
            );
            Some(out)
        }
    }
}

fn boot_and_run(cases: &[Case]) -> Result<Boot, String> {
    for tool in ["qemu-system-x86_64", "cpio", "gzip", "cc"] {
        if !on_path(tool) {
            return Ok(Boot::Skipped(format!("`{tool}` is not installed")));
        }
    }
    let Some(busybox) = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
    else {
        return Ok(Boot::Skipped("busybox is not installed".into()));
    };
    let work = PathBuf::from(WORK).join("guest");
    let kernel = match std::env::var_os("RBT_GUEST_KERNEL") {
        Some(path) => PathBuf::from(path),
        None if !on_path("apt-get") => {
            return Ok(Boot::Skipped(
                "no apt-get to fetch the kernel (set RBT_GUEST_KERNEL)".into(),
            ));
        }
        None => fetch_kernel(&work)?,
    };
    let initramfs = build_initramfs(&work, &busybox, &kernel, cases)?;
    let results = work.join("results.txt");
    let console = work.join("console.txt");
    let text = boot(&kernel, &initramfs, &results, &console, cases)?;
    parse_results(&text, cases).map(Boot::Ran)
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

/// Runs a command to completion; its combined output in the error when it fails.
fn run(command: &mut Command) -> Result<(), String> {
    let out = command
        .output()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{command:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// The kernel image of the pinned package, downloaded and unpacked once into `work`.
fn fetch_kernel(work: &Path) -> Result<PathBuf, String> {
    let dir = work.join(format!("{KERNEL_PACKAGE}_{KERNEL_VERSION}"));
    let image = |dir: &Path| {
        let boot = dir.join("boot");
        fs::read_dir(&boot)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
            })
    };
    if let Some(found) = image(&dir) {
        return Ok(found);
    }
    let partial = work.join("kernel-download");
    let _ = fs::remove_dir_all(&partial);
    fs::create_dir_all(&partial).map_err(|e| format!("cannot create {partial:?}: {e}"))?;
    let spec = format!("{KERNEL_PACKAGE}={KERNEL_VERSION}");
    run(Command::new("apt-get")
        .args(["download", "-q", &spec])
        .current_dir(&partial))
    .map_err(|e| {
        format!(
            "{e}\n(the pinned kernel may have left the archive: run `apt-get update` or move \
             KERNEL_PACKAGE/KERNEL_VERSION in tests/guest/harness.rs, see tests/guest/README.md)"
        )
    })?;
    let deb = fs::read_dir(&partial)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| format!("apt-get download left no .deb in {partial:?}"))?;
    let unpacked = partial.join("root");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked))?;
    let _ = fs::remove_file(&deb);
    fs::rename(&unpacked, &dir).map_err(|e| format!("cannot move the kernel to {dir:?}: {e}"))?;
    let _ = fs::remove_dir_all(&partial);
    image(&dir).ok_or_else(|| format!("no boot/vmlinuz-* in {KERNEL_PACKAGE}"))
}

/// The kernel modules the cases load with `insmod /lib/modules/NAME.ko` (module BTF, module
/// functions), by their path under the package's `lib/modules/<version>/kernel/`. Each must
/// need no other module. A kernel given by RBT_GUEST_KERNEL comes without them.
const GUEST_MODULES: &[&str] = &["net/ipv4/tcp_westwood.ko"];

/// The modules of `GUEST_MODULES` that the package of kernel image `kernel` holds.
fn guest_modules(kernel: &Path) -> Vec<PathBuf> {
    let Some(package) = kernel.parent().and_then(Path::parent) else {
        return Vec::new();
    };
    let Ok(versions) = fs::read_dir(package.join("lib/modules")) else {
        return Vec::new();
    };
    let versions: Vec<PathBuf> = versions.flatten().map(|e| e.path()).collect();
    GUEST_MODULES
        .iter()
        .flat_map(|m| versions.iter().map(move |v| v.join("kernel").join(m)))
        .filter(|p| p.exists())
        .collect()
}

/// The guest's root: busybox, rbt (stripped) with its shared libraries, the C helpers compiled
/// statically, the modules of `GUEST_MODULES`, the init script and the cases. Returns the
/// gzipped newc cpio archive.
fn build_initramfs(
    work: &Path,
    busybox: &Path,
    kernel: &Path,
    cases: &[Case],
) -> Result<PathBuf, String> {
    let root = work.join("root");
    let _ = fs::remove_dir_all(&root);
    let io = |e: std::io::Error| format!("building the initramfs: {e}");
    for dir in [
        "bin",
        "dev",
        "proc",
        "sys",
        "tmp",
        "root",
        "cases",
        "examples",
        "lib/modules",
    ] {
        fs::create_dir_all(root.join(dir)).map_err(io)?;
    }
    fs::copy(busybox, root.join("bin/busybox")).map_err(io)?;
    copy_libraries(busybox, &root)?;

    let rbt = root.join("bin/rbt");
    if run(Command::new("strip").arg("-o").arg(&rbt).arg(RBT)).is_err() {
        fs::copy(RBT, &rbt).map_err(io)?;
    }
    copy_libraries(Path::new(RBT), &root)?;

    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/guest");
    for entry in fs::read_dir(source.join("helpers")).map_err(io)?.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|x| x == "c") {
            let name = path.file_stem().unwrap();
            run(Command::new("cc")
                .args(["-static", "-O2", "-Wall", "-o"])
                .arg(root.join("bin").join(name))
                .arg(&path))?;
        }
    }
    for module in guest_modules(kernel) {
        let name = module.file_name().expect("a module file");
        fs::copy(&module, root.join("lib/modules").join(name)).map_err(io)?;
    }
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    for entry in fs::read_dir(examples).map_err(io)?.flatten() {
        fs::copy(entry.path(), root.join("examples").join(entry.file_name())).map_err(io)?;
    }

    let init = root.join("init");
    fs::write(&init, include_str!("init.sh")).map_err(io)?;
    let mut list = String::new();
    for case in cases {
        assert!(
            !case.name.is_empty()
                && case
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "bug: case name `{}` must be letters, digits and _",
            case.name
        );
        fs::write(root.join("cases").join(case.name), case.script).map_err(io)?;
        writeln!(list, "{} {}", case.name, case.timeout_secs).unwrap();
    }
    fs::write(root.join("cases/list"), list).map_err(io)?;
    run(Command::new("chmod").arg("0755").arg(&init))?;

    let archive = work.join("initramfs.cpio.gz");
    run(Command::new("sh")
        .arg("-c")
        .arg("find . | cpio -o -H newc --quiet -R 0:0 | gzip -1 > \"$0\"")
        .arg(&archive)
        .current_dir(&root))?;
    Ok(archive)
}

/// Copies the shared libraries `ldd` names for `binary` to the same paths under `root`.
fn copy_libraries(binary: &Path, root: &Path) -> Result<(), String> {
    let Ok(out) = Command::new("ldd").arg(binary).output() else {
        return Ok(()); // No ldd: the binary is taken to be static.
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)` or `/lib64/ld-linux... (0x...)`.
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        let Some(path) = path.filter(|p| p.starts_with('/')) else {
            continue;
        };
        let target = root.join(path.trim_start_matches('/'));
        fs::create_dir_all(target.parent().unwrap()).map_err(|e| e.to_string())?;
        fs::copy(path, &target).map_err(|e| format!("cannot copy {path}: {e}"))?;
    }
    Ok(())
}

/// KVM only where the CPU can virtualize (here /dev/kvm exists but the CPU lacks vmx/svm, and a
/// KVM guest then aborts or hangs); otherwise TCG.
fn accelerator() -> [&'static str; 4] {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let can_virtualize = cpuinfo
        .lines()
        .filter(|l| l.starts_with("flags"))
        .any(|l| l.split_whitespace().any(|f| f == "vmx" || f == "svm"));
    if can_virtualize && Path::new("/dev/kvm").exists() {
        ["-accel", "kvm", "-cpu", "host"]
    } else {
        ["-accel", "tcg", "-cpu", "max"]
    }
}

/// Boots the guest and returns what it wrote to the results port. Fails, with the console's tail,
/// when QEMU exits early, the guest does not reach its first case in time, or it runs past the
/// sum of the cases' timeouts.
fn boot(
    kernel: &Path,
    initramfs: &Path,
    results: &Path,
    console: &Path,
    cases: &[Case],
) -> Result<String, String> {
    let _ = fs::remove_file(results);
    let _ = fs::remove_file(console);
    let mut qemu = Command::new("qemu-system-x86_64");
    qemu.args(accelerator())
        .args(["-m", "1G", "-smp", "2", "-no-reboot", "-nodefaults"])
        .args(["-display", "none", "-monitor", "none", "-net", "none"])
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initramfs)
        .args(["-append", "console=ttyS0 panic=-1 quiet"])
        .arg("-serial")
        .arg(format!("file:{}", console.display()))
        .arg("-serial")
        .arg(format!("file:{}", results.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = qemu
        .spawn()
        .map_err(|e| format!("cannot start qemu: {e}"))?;
    let started = Instant::now();
    let cases_time: u64 = cases.iter().map(|c| u64::from(c.timeout_secs) + 5).sum();
    let deadline = started + BOOT_TIMEOUT + Duration::from_secs(cases_time);
    let read =
        |path: &Path| String::from_utf8_lossy(&fs::read(path).unwrap_or_default()).into_owned();
    let failure = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            let text = read(results);
            if status.success() && text.contains(&format!("{MARK}done")) {
                return Ok(text);
            }
            let mut err = String::new();
            use std::io::Read;
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            if !text.contains(&format!("{MARK}ready")) {
                break format!("QEMU ({status}) did not boot the guest: {}", err.trim());
            }
            // The guest stopped midway (a kernel panic reboots, and -no-reboot ends QEMU).
            eprintln!("guest: stopped before the last case ({status})");
            return Ok(text);
        }
        let now = Instant::now();
        let text = read(results);
        if text.contains(&format!("{MARK}done")) {
            // Every case ran: give the guest a moment to power off, then stop it regardless.
            let end = now + Duration::from_secs(10);
            while Instant::now() < end && child.try_wait().map_err(|e| e.to_string())?.is_none() {
                thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
            return Ok(text);
        }
        if now > started + BOOT_TIMEOUT && !text.contains(&format!("{MARK}ready")) {
            break format!(
                "the guest did not reach its first case within {} s",
                BOOT_TIMEOUT.as_secs()
            );
        }
        if now > deadline {
            break "the guest ran past the sum of its cases' timeouts".to_string();
        }
        thread::sleep(Duration::from_millis(100));
    };
    let _ = child.kill();
    let _ = child.wait();
    let console_text = read(console);
    let tail: Vec<&str> = console_text.lines().rev().take(40).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(format!(
        "{failure}\nconsole ({}), last lines:\n{}\nresults so far:\n{}",
        console.display(),
        tail.join("\n"),
        read(results)
    ))
}

/// Splits the results port's text into each case's output.
fn parse_results(text: &str, cases: &[Case]) -> Result<HashMap<String, Output>, String> {
    enum Part {
        None,
        Stdout,
        Stderr,
    }
    let mut outputs = HashMap::new();
    let mut current: Option<(String, Output)> = None;
    let mut part = Part::None;
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let Some(mark) = line.strip_prefix(MARK) else {
            let Some((_, out)) = current.as_mut() else {
                continue;
            };
            match part {
                Part::Stdout => writeln!(out.stdout, "{line}").unwrap(),
                Part::Stderr => writeln!(out.stderr, "{line}").unwrap(),
                Part::None => {}
            }
            continue;
        };
        let (word, rest) = mark.split_once(' ').unwrap_or((mark, ""));
        match word {
            "ready" => eprintln!("guest: kernel {rest} ready"),
            "begin" => {
                if let Some((name, out)) = current.take() {
                    outputs.insert(name, out);
                }
                current = Some((rest.to_string(), Output::default()));
                part = Part::None;
            }
            "stdout" => part = Part::Stdout,
            "stderr" => part = Part::Stderr,
            "exit" => {
                let Some((name, mut out)) = current.take() else {
                    return Err(format!("an exit mark outside a case:\n{text}"));
                };
                let mut words = rest.split_whitespace();
                out.code = words.next().and_then(|w| w.parse().ok());
                out.seconds = words.next().and_then(|w| w.parse().ok());
                outputs.insert(name, out);
                part = Part::None;
            }
            "done" => {}
            _ => return Err(format!("an unknown mark `{line}` in:\n{text}")),
        }
    }
    if let Some((name, out)) = current.take() {
        outputs.insert(name, out);
    }
    if outputs.is_empty() && !cases.is_empty() {
        return Err(format!("the guest reported no case:\n{text}"));
    }
    Ok(outputs)
}
