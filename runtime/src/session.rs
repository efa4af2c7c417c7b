//! Running a compiled script: load every program (the verifier checks each), run `begin`,
//! attach, relay events until the script ends, run `end`, print the maps, detach.

use std::collections::HashMap;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::process::Child;

use aya::maps::{Map, MapData, RingBuf};
use aya::programs::perf_event::{PerfEventConfig, PerfEventScope, SamplePolicy, SoftwareEvent};
use aya::programs::uprobe::{UProbeError, UProbeScope};
use aya::programs::{
    KProbe, PerfEvent, Program, ProgramError, RawTracePoint, RawTracePointRunOptions, TestRun,
    TracePoint, UProbe,
};
use aya::{Ebpf, EbpfLoader};

use rbt_compiler::ast::Span;
use rbt_compiler::catalogue::{Attach, ProbeClass, qualified};
use rbt_compiler::maps::{Global, Layout, MapKind};
use rbt_compiler::printf::{self, Piece};
use rbt_compiler::sema::{Event, MissingProbes};
use rbt_compiler::types::Type;
use rbt_compiler::{Compiled, Program as Compiled1};

use crate::decode;
use crate::output;
use crate::render::Renderer;
use crate::sys::{self, RawMap};
use crate::tracefs::{self, TraceFs};

pub struct Options {
    /// Load every program, attach none.
    pub dry_run: bool,
    /// Print each program's verifier log.
    pub verbose: bool,
    pub quiet: bool,
    /// `-c`: run this command, trace while it runs.
    pub command: Option<String>,
    /// Print `__BPFTRACE_NOTIFY_PROBES_ATTACHED` once attached.
    pub notify_attached: bool,
    /// `-p`: uprobes attach to this process only.
    pub pid: Option<u32>,
    /// `-o`: where printed output goes instead of standard output.
    pub output: Option<std::path::PathBuf>,
    /// `-f`: how everything printed is written.
    pub format: Format,
    /// The script's name (`stdin` for -e) and text, for places named at run time.
    pub script: Script,
}

#[derive(Clone, Debug, Default)]
pub struct Script {
    pub name: String,
    pub text: String,
}

impl Script {
    /// `name:line:column-column` of a span on one line, as bpftrace names places (1-based
    /// columns, the end one past the last character).
    /// The source line of a span, and `~` under the span.
    pub fn context(&self, at: &Span) -> String {
        let start = at.start.min(self.text.len());
        let line_start = self.text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[start..]
            .find('\n')
            .map_or(self.text.len(), |i| start + i);
        let width = at.end.min(line_end).saturating_sub(start).max(1);
        format!(
            "{}\n{}{}",
            &self.text[line_start..line_end],
            " ".repeat(start - line_start),
            "~".repeat(width)
        )
    }

    pub fn place(&self, at: &Span) -> String {
        let start = at.start.min(self.text.len());
        let before = &self.text[..start];
        let line = before.matches('\n').count() + 1;
        let col = start - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        format!(
            "{}:{line}:{col}-{}",
            self.name,
            col + at.end.saturating_sub(at.start)
        )
    }
}

/// The output format, `-f text` (bpftrace's default) or `-f json` (one JSON object per line).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we pass.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn boot_time_ns() -> u64 {
    clock_ns(libc::CLOCK_BOOTTIME)
}

/// A failure while loading or running, in words for the user; `probe` points at the probe in
/// the script it concerns.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub probe: Option<Span>,
    pub detail: Option<String>,
}

impl Failure {
    fn plain(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            probe: None,
            detail: None,
        }
    }
}

/// How a run ended.
enum Stop {
    Exit(i32),
    Signal,
    ChildExited,
}

pub fn run(compiled: &Compiled, kernel: &TraceFs, opts: &Options) -> Result<i32, Failure> {
    let mut ebpf = loader_without_kernel_btf()
        .load(&compiled.object)
        .map_err(|e| Failure::plain(format!("the kernel refused the maps: {e}")))?;
    let mut tracing = Tracing::default();
    for p in &compiled.programs {
        if opts.verbose
            && let Some(stand_in) = stand_in(&p.attach)
        {
            eprintln!(
                "{}: {}; using {stand_in} instead",
                p.attach.full_name(),
                no_kprobes()
            );
        }
        if matches!(p.attach, Attach::Fentry { .. } | Attach::Fexit { .. }) {
            tracing.load(&ebpf, compiled, p, kernel, opts.verbose)?;
        } else {
            load(&mut ebpf, compiled, p, opts.verbose)?;
        }
    }
    if opts.dry_run {
        // What an attach would find missing, said without attaching.
        for p in &compiled.programs {
            if let Attach::Kprobe {
                module, function, ..
            }
            | Attach::Kretprobe { module, function } = &p.attach
                && let Some(missing) = tracefs::missing_function(module.as_deref(), function)
                && compiled.missing_probes == MissingProbes::Error
            {
                return Err(Failure {
                    message: format!("cannot attach {}: {missing}", p.attach.full_name()),
                    probe: Some(p.probe_span.clone()),
                    detail: None,
                });
            }
        }
        return Ok(0);
    }
    if compiled.tables.trace_printk {
        crate::tracefs::ensure_debugfs();
    }
    let cpus = sys::possible_cpus();
    let globals = raw_map(
        &ebpf,
        &compiled.maps.layouts[compiled.maps.globals as usize],
        cpus,
    );
    let set_global = |which: Global, value: u64| {
        let _ = globals.update(&(which as u32).to_le_bytes(), &value.to_le_bytes());
    };
    set_global(Global::StartNs, boot_time_ns());
    set_global(
        Global::SwTaiOffset,
        clock_ns(libc::CLOCK_TAI).wrapping_sub(boot_time_ns()),
    );
    set_global(
        Global::Ncpus,
        aya::util::online_cpus().map_or(1, |c| c.len()) as u64,
    );

    let mut events = RingBuf::try_from(
        ebpf.take_map("rbt_events")
            .expect("bug: no event ring buffer"),
    )
    .map_err(|e| Failure::plain(format!("cannot open the event ring buffer: {e}")))?;
    let probe_signals: Vec<i32> = compiled
        .programs
        .iter()
        .filter_map(|p| match p.attach {
            Attach::Signal { number, .. } => Some(number),
            _ => None,
        })
        .collect();
    let signals = SignalFd::new(&probe_signals)?;
    let output: Box<dyn Write> = match &opts.output {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .map_err(|e| Failure::plain(format!("cannot write {}: {e}", path.display())))?,
        ),
        None => Box::new(io::stdout()),
    };
    let mut out = Relay::new(compiled, &ebpf, output, opts.format, opts.script.clone());

    // begin bodies run in the kernel, once, before anything is attached; what they print is
    // shown after the "Attached" line, as bpftrace does.
    for p in compiled
        .programs
        .iter()
        .filter(|p| p.attach == Attach::Begin)
    {
        test_run(&mut ebpf, p)?;
    }

    let mut attached = 0;
    for p in attach_order(&compiled.programs) {
        let result = match p.attach {
            Attach::Fentry { .. } | Attach::Fexit { .. } => tracing.attach(p),
            Attach::Begin | Attach::End => Ok(()),
            _ => attach(&mut ebpf, p, opts.pid),
        };
        match result {
            Ok(()) => attached += 1,
            Err(Unattached {
                failure,
                missing: true,
            }) if compiled.missing_probes != MissingProbes::Error => {
                if compiled.missing_probes == MissingProbes::Warn {
                    // bpftrace's words, then why.
                    let (kind, target) = p.attach.full_name().split_once(':').map_or_else(
                        || (p.attach.full_name(), String::new()),
                        |(k, t)| (k.to_string(), t.to_string()),
                    );
                    eprintln!(
                        "{}: WARNING: No matches for {kind} {target}. Skipping. ({})",
                        opts.script.place(&p.probe_span),
                        failure.message
                    );
                }
            }
            Err(unattached) => return Err(unattached.failure),
        }
    }
    if !opts.quiet {
        out.attached(attached);
    }
    if opts.notify_attached {
        println!("__BPFTRACE_NOTIFY_PROBES_ATTACHED");
    }
    let mut stop = out.drain(&mut events);
    let mut child = match &opts.command {
        Some(cmd) => Some(spawn(cmd)?),
        None => None,
    };
    if let Some(c) = &child {
        set_global(Global::Cpid, u64::from(c.id()));
    }
    let only_special = compiled
        .programs
        .iter()
        .all(|p| matches!(p.attach, Attach::Begin | Attach::End));
    if stop.is_none() && !(only_special && child.is_none()) {
        let mut on_signal = |number: i32| {
            for p in &compiled.programs {
                if matches!(p.attach, Attach::Signal { number: n, .. } if n == number)
                    && let Err(failure) = test_run(&mut ebpf, p)
                {
                    eprintln!("rbt: {}", failure.message);
                }
            }
        };
        stop = Some(out.relay(&mut events, &signals, child.as_mut(), &mut on_signal));
    }

    // Detach the tracing programs, then run end bodies and print what was gathered.
    drop(tracing);
    for p in &compiled.programs {
        if !matches!(p.attach, Attach::Begin | Attach::End) {
            unload(&mut ebpf, &p.name);
        }
    }
    for p in compiled.programs.iter().filter(|p| p.attach == Attach::End) {
        test_run(&mut ebpf, p)?;
        out.drain(&mut events);
    }
    if compiled.print_maps_on_exit {
        out.print_all_maps();
    }
    out.report_losses();
    if let Some(mut c) = child {
        let _ = c.kill();
        let _ = c.wait();
    }
    Ok(match stop {
        Some(Stop::Exit(code)) => code,
        _ => 0,
    })
}

/// An aya loader that does not read the kernel's BTF. rbt's programs need no CO-RE relocations,
/// but `EbpfLoader::new` always parses /sys/kernel/btf/vmlinux (5.5 MB: about 13 ms and 10 MiB
/// of every start-up) before `.btf(None)` can say so. So the loader is made on a thread with a
/// mount namespace of its own, in which that file is empty; nothing else sees the change.
fn loader_without_kernel_btf() -> EbpfLoader<'static> {
    let made = std::thread::spawn(|| {
        // SAFETY: unshare and mount with valid NUL-terminated strings; they only affect this
        // thread, which ends right after.
        unsafe {
            if libc::unshare(libc::CLONE_NEWNS) == 0
                && libc::mount(
                    std::ptr::null(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) == 0
            {
                libc::mount(
                    c"/dev/null".as_ptr(),
                    c"/sys/kernel/btf/vmlinux".as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null(),
                );
            }
        }
        let mut loader = EbpfLoader::new();
        loader.btf(None);
        loader
    })
    .join();
    made.unwrap_or_else(|_| {
        let mut loader = EbpfLoader::new();
        loader.btf(None);
        loader
    })
}

fn program<'a>(ebpf: &'a mut Ebpf, name: &str) -> &'a mut Program {
    ebpf.program_mut(name)
        .unwrap_or_else(|| panic!("bug: program {name} missing from the object"))
}

/// The instructions of `p` with its callbacks appended and the maps' file descriptors in
/// place, as BPF_PROG_LOAD takes them (aya does this for the programs it loads).
fn linked_insns(ebpf: &Ebpf, compiled: &Compiled, p: &Compiled1) -> Vec<u8> {
    let callbacks: Vec<&rbt_compiler::bpf::Program> = p.callbacks.iter().map(|(c, _)| c).collect();
    let mut linked = rbt_compiler::bpf::link(&p.code, &callbacks);
    for r in &linked.relocs {
        let layout = &compiled.maps.layouts[r.map as usize];
        let fd = match ebpf.map(&layout.kernel_name) {
            Some(
                Map::HashMap(d)
                | Map::PerCpuHashMap(d)
                | Map::PerCpuArray(d)
                | Map::Array(d)
                | Map::RingBuf(d),
            ) => d.fd().as_fd().as_raw_fd(),
            _ => panic!("bug: map {} missing from the object", layout.kernel_name),
        };
        linked.insns[r.insn].src = 1;
        linked.insns[r.insn].imm = fd;
    }
    rbt_compiler::bpf::encode(&linked.insns)
}

/// `-v`: the verifier's log for a program aya loaded.
fn print_verifier_log(ebpf: &Ebpf, compiled: &Compiled, p: &Compiled1) {
    let prog_type = match p.attach.class() {
        ProbeClass::Special => 17,
        ProbeClass::Tracepoint => 5,
        ProbeClass::Kprobe | ProbeClass::Kretprobe | ProbeClass::Uprobe | ProbeClass::Uretprobe => {
            2
        }
        ProbeClass::Perf => 7,
        ProbeClass::Fentry | ProbeClass::Fexit => {
            unreachable!("bug: rbt loads fentry and fexit itself, with their log")
        }
    };
    let insns = linked_insns(ebpf, compiled, p);
    let load = sys::ProgLoad {
        prog_type,
        insns: &insns,
        ..sys::ProgLoad::default()
    };
    match sys::verifier_log(load) {
        Ok(log) => print_log(p, &log),
        Err(e) => eprintln!("no verifier log for {}: {e}", p.attach.full_name()),
    }
}

fn print_log(p: &Compiled1, log: &str) {
    eprintln!(
        "verifier log of {} ({}):\n{log}",
        p.attach.full_name(),
        p.name
    );
}

/// The fentry and fexit programs, which rbt loads and attaches itself: aya 0.14 can name only
/// vmlinux functions, not a module's. By program name; dropping this detaches them.
#[derive(Default)]
struct Tracing {
    programs: HashMap<String, OwnedFd>,
    links: Vec<OwnedFd>,
    /// The object's BTF in the kernel, for the function records of programs with callbacks.
    prog_btf: Option<OwnedFd>,
}

const BPF_PROG_TYPE_TRACING: u32 = 26;
const BPF_TRACE_FENTRY: u32 = 24;
const BPF_TRACE_FEXIT: u32 = 25;

impl Tracing {
    fn load(
        &mut self,
        ebpf: &Ebpf,
        compiled: &Compiled,
        p: &Compiled1,
        kernel: &TraceFs,
        verbose: bool,
    ) -> Result<(), Failure> {
        let (module, function, attach_type) = match &p.attach {
            Attach::Fentry {
                module, function, ..
            } => (module, function, BPF_TRACE_FENTRY),
            Attach::Fexit {
                module, function, ..
            } => (module, function, BPF_TRACE_FEXIT),
            _ => unreachable!("bug: not a tracing program"),
        };
        let fail = |message: String| Failure {
            message: format!("cannot load {}: {message}", p.attach.full_name()),
            probe: Some(p.probe_span.clone()),
            detail: None,
        };
        let btf = kernel
            .btf()
            .ok_or_else(|| fail("the kernel's BTF cannot be read".into()))?;
        let in_module = Some(module.as_deref().unwrap_or("vmlinux"));
        let (at, _) = btf
            .function(in_module, function)
            .ok_or_else(|| fail(format!("the kernel has no BTF for `{function}`")))?;
        let module_btf = match &at.module {
            Some(m) => Some(sys::module_btf(m).map_err(|e| fail(e.to_string()))?),
            None => None,
        };
        let func_ids = &compiled.func_btf.func_ids[program_index(compiled, p)];
        if !func_ids.is_empty() && self.prog_btf.is_none() {
            let btf = sys::load_btf(&compiled.func_btf.btf)
                .map_err(|e| fail(format!("the kernel refused the program's BTF: {e}")))?;
            self.prog_btf = Some(btf);
        }
        let callbacks: Vec<&rbt_compiler::bpf::Program> =
            p.callbacks.iter().map(|(c, _)| c).collect();
        let starts = rbt_compiler::bpf::link(&p.code, &callbacks).starts;
        let func_info: Vec<[u32; 2]> = starts
            .iter()
            .zip(func_ids)
            .map(|(&start, &id)| [start, id])
            .collect();
        let insns = linked_insns(ebpf, compiled, p);
        let mut load = sys::ProgLoad {
            prog_type: BPF_PROG_TYPE_TRACING,
            insns: &insns,
            expected_attach_type: attach_type,
            attach_btf_id: at.id,
            attach_btf_obj: module_btf.as_ref().map(|fd| fd.as_fd()),
            prog_btf: match func_ids.is_empty() {
                true => None,
                false => self.prog_btf.as_ref().map(|fd| fd.as_fd()),
            },
            func_info: &func_info,
            log_level: if verbose { 5 } else { 0 },
        };
        let result = sys::load_program(&load).or_else(|(e, log)| {
            if load.log_level > 0 {
                return Err((e, log));
            }
            // Loaded again for the verifier's words.
            load.log_level = 1;
            sys::load_program(&load)
        });
        match result {
            Ok((fd, log)) => {
                if verbose {
                    print_log(p, &log);
                }
                self.programs.insert(p.name.clone(), fd);
                Ok(())
            }
            Err((e, log)) => {
                Err(stand_in_failed(p, &e, &log)
                    .unwrap_or_else(|| load_failure(p, &e, &log, verbose)))
            }
        }
    }

    fn attach(&mut self, p: &Compiled1) -> Result<(), Unattached> {
        let prog = self
            .programs
            .get(&p.name)
            .unwrap_or_else(|| panic!("bug: {} was not loaded", p.name));
        let link = sys::attach_tracing(prog.as_fd()).map_err(|e| Failure {
            message: format!("cannot attach {}: {e}", p.attach.full_name()),
            probe: Some(p.probe_span.clone()),
            detail: None,
        })?;
        self.links.push(link);
        Ok(())
    }
}

fn program_index(compiled: &Compiled, p: &Compiled1) -> usize {
    compiled
        .programs
        .iter()
        .position(|q| std::ptr::eq(q, p))
        .expect("bug: a program not of this script")
}

fn load(ebpf: &mut Ebpf, compiled: &Compiled, p: &Compiled1, verbose: bool) -> Result<(), Failure> {
    let prog = program(ebpf, &p.name);
    let result = match &p.attach {
        Attach::Fentry { .. } | Attach::Fexit { .. } => {
            unreachable!("bug: rbt loads fentry and fexit itself")
        }
        Attach::Begin | Attach::End | Attach::Signal { .. } => {
            as_kind::<RawTracePoint>(prog).load()
        }
        Attach::Tracepoint { .. } => as_kind::<TracePoint>(prog).load(),
        Attach::Kprobe { .. } | Attach::Kretprobe { .. } => as_kind::<KProbe>(prog).load(),
        Attach::Uprobe { .. } | Attach::Uretprobe { .. } => as_kind::<UProbe>(prog).load(),
        Attach::Interval { .. } | Attach::Profile { .. } | Attach::Software { .. } => {
            as_kind::<PerfEvent>(prog).load()
        }
    };
    match result {
        Ok(()) => {
            if verbose {
                print_verifier_log(ebpf, compiled, p);
            }
            Ok(())
        }
        Err(ProgramError::LoadError {
            io_error,
            verifier_log,
        }) => Err(load_failure(
            p,
            &io_error,
            &verifier_log.to_string(),
            verbose,
        )),
        Err(e) => Err(Failure {
            message: format!("cannot load the program of {}: {e}", p.attach.full_name()),
            probe: Some(p.probe_span.clone()),
            detail: None,
        }),
    }
}

/// The fentry (fexit) program that stands in for a kprobe (kretprobe): `fentry:FN`.
fn stand_in(attach: &Attach) -> Option<String> {
    match attach {
        Attach::Fentry {
            module,
            function,
            for_kprobe: true,
        } => Some(format!("fentry:{}", qualified(module, function))),
        Attach::Fexit {
            module,
            function,
            for_kprobe: true,
        } => Some(format!("fexit:{}", qualified(module, function))),
        _ => None,
    }
}

/// A stand-in fentry that failed to load, explained for both mechanisms.
fn stand_in_failed(p: &Compiled1, e: &io::Error, log: &str) -> Option<Failure> {
    let stand_in = stand_in(&p.attach)?;
    let why = match log.lines().rev().find(|l| !l.trim().is_empty()) {
        None => format!("the kernel refused it ({e}) without a verifier log"),
        Some(last) => format!("the verifier rejected it: {last}"),
    };
    Some(Failure {
        message: format!(
            "cannot trace {}: {}; {stand_in} could not stand in: {why}",
            p.attach.full_name(),
            no_kprobes()
        ),
        probe: Some(p.probe_span.clone()),
        detail: None,
    })
}

fn load_failure(p: &Compiled1, io_error: &io::Error, log: &str, verbose: bool) -> Failure {
    if log.trim().is_empty() {
        // Refused without a word from the verifier: say so rather than show an empty log.
        let why = match p.attach.class() {
            ProbeClass::Fentry | ProbeClass::Fexit => {
                ": this kernel does not allow fentry/fexit programs"
            }
            _ => "",
        };
        return Failure {
            message: format!(
                "the kernel refused the program of {} ({io_error}) without a verifier log{why}",
                p.attach.full_name()
            ),
            probe: Some(p.probe_span.clone()),
            detail: None,
        };
    }
    let tail: Vec<&str> = log
        .lines()
        .rev()
        .take(if verbose { usize::MAX } else { 12 })
        .collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Failure {
        message: format!(
            "the kernel's verifier rejected the program of {} ({io_error})",
            p.attach.full_name()
        ),
        probe: Some(p.probe_span.clone()),
        detail: Some(format!("verifier log (end):\n{}", tail.join("\n"))),
    }
}

fn as_kind<'a, T>(prog: &'a mut Program) -> &'a mut T
where
    &'a mut T: TryFrom<&'a mut Program>,
{
    match prog.try_into() {
        Ok(p) => p,
        Err(_) => panic!("bug: program section does not match its attach kind"),
    }
}

/// The order to attach programs in so that probes on the same event fire in script order, as
/// in bpftrace. The kernel runs the newest first of several kprobes on one address (aggregated,
/// each added at the head of the list), of several uprobe consumers, and of several fentry or
/// fexit programs on one function (trampoline lists); those attach last to first. Tracepoint
/// and perf programs run in attach order, and so do kretprobes (their return instances are
/// stacked by entries that ran newest first).
fn attach_order(programs: &[Compiled1]) -> Vec<&Compiled1> {
    let newest_first = |p: &&Compiled1| {
        matches!(
            p.attach.class(),
            ProbeClass::Kprobe
                | ProbeClass::Uprobe
                | ProbeClass::Uretprobe
                | ProbeClass::Fentry
                | ProbeClass::Fexit
        )
    };
    let mut order: Vec<&Compiled1> = programs.iter().filter(|p| !newest_first(p)).collect();
    order.extend(programs.iter().filter(newest_first).rev());
    order
}

/// A probe that did not attach; `missing` when what it names is not there (a kernel function,
/// a binary, a symbol in it), which `missing_probes` may let the script go on without.
struct Unattached {
    failure: Failure,
    missing: bool,
}

impl From<Failure> for Unattached {
    fn from(failure: Failure) -> Self {
        Unattached {
            failure,
            missing: false,
        }
    }
}

fn attach(ebpf: &mut Ebpf, p: &Compiled1, pid: Option<u32>) -> Result<(), Unattached> {
    let scope = match pid.and_then(std::num::NonZeroU32::new) {
        Some(pid) => UProbeScope::OneProcess(pid),
        None => UProbeScope::AllProcesses,
    };
    let prog = program(ebpf, &p.name);
    let result: Result<(), ProgramError> = match &p.attach {
        // Run by rbt itself (test runs), never attached.
        Attach::Begin | Attach::End | Attach::Signal { .. } => Ok(()),
        Attach::Tracepoint { category, name } => {
            as_kind::<TracePoint>(prog).attach(category, name).map(drop)
        }
        Attach::Kprobe { offset, .. } => as_kind::<KProbe>(prog)
            .attach(kernel_symbol(&p.attach), *offset)
            .map(drop),
        Attach::Kretprobe { .. } => as_kind::<KProbe>(prog)
            .attach(kernel_symbol(&p.attach), 0)
            .map(drop),
        Attach::Fentry { .. } | Attach::Fexit { .. } => {
            unreachable!("bug: rbt attaches fentry and fexit itself")
        }
        Attach::Uprobe { path, symbol, .. } | Attach::Uretprobe { path, symbol } => {
            as_kind::<UProbe>(prog)
                .attach(symbol.as_str(), path, scope)
                .map(drop)
        }
        Attach::Interval { period_ns } => as_kind::<PerfEvent>(prog)
            .attach(
                PerfEventConfig::Software(SoftwareEvent::CpuClock),
                PerfEventScope::AllProcessesOneCpu { cpu: 0 },
                SamplePolicy::Period(*period_ns),
                false,
            )
            .map(drop),
        Attach::Profile { frequency } => on_every_cpu(
            as_kind::<PerfEvent>(prog),
            PerfEventConfig::Software(SoftwareEvent::CpuClock),
            SamplePolicy::Frequency(*frequency),
        ),
        Attach::Software { config, count, .. } => on_every_cpu(
            as_kind::<PerfEvent>(prog),
            PerfEventConfig::Pmu {
                pmu_type: PERF_TYPE_SOFTWARE,
                config: *config,
            },
            SamplePolicy::Period(*count),
        ),
    };
    result.map_err(|e| Unattached {
        missing: target_missing(&p.attach, &e),
        failure: Failure {
            message: attach_message(&p.attach, &e),
            probe: Some(p.probe_span.clone()),
            detail: None,
        },
    })
}

/// Whether an attach failed because what the probe names is not there.
fn target_missing(attach: &Attach, e: &ProgramError) -> bool {
    match attach {
        Attach::Kprobe {
            module, function, ..
        }
        | Attach::Kretprobe { module, function } => {
            tracefs::missing_function(module.as_deref(), function).is_some()
        }
        Attach::Uprobe { path, .. } | Attach::Uretprobe { path, .. } => {
            !Path::new(path).exists()
                || matches!(
                    e,
                    ProgramError::UProbeError(
                        UProbeError::SymbolError { .. } | UProbeError::InvalidTarget { .. }
                    )
                )
        }
        _ => false,
    }
}

/// Why kprobes cannot attach here.
fn no_kprobes() -> String {
    if std::env::var_os(tracefs::NO_KPROBES_SWITCH).is_some() {
        format!(
            "kprobes are switched off ({} is set)",
            tracefs::NO_KPROBES_SWITCH
        )
    } else {
        "this kernel has no kprobe support (it was built without CONFIG_KPROBES)".into()
    }
}

/// Why fentry could not take a kprobe's place.
fn no_fentry_instead(attach: &Attach) -> String {
    match attach {
        Attach::Kprobe { offset, .. } if *offset != 0 => {
            "fentry cannot stand in: it cannot attach at an offset".into()
        }
        Attach::Kprobe {
            module: Some(m),
            function,
            ..
        }
        | Attach::Kretprobe {
            module: Some(m),
            function,
        } => format!("fentry cannot stand in: module `{m}` has no BTF for `{function}`"),
        _ => match attach.function() {
            Some(f) => format!("fentry cannot stand in: the kernel has no BTF for `{f}`"),
            None => String::new(),
        },
    }
}

fn kernel_symbol(attach: &Attach) -> String {
    attach
        .kernel_symbol()
        .expect("bug: a kernel probe without a kernel function")
}

/// perf_event_attr.type of the software events.
const PERF_TYPE_SOFTWARE: u32 = 1;

/// Attaches a perf event program to one event per online CPU.
fn on_every_cpu(
    pe: &mut PerfEvent,
    config: PerfEventConfig,
    policy: SamplePolicy,
) -> Result<(), ProgramError> {
    let cpus = aya::util::online_cpus().map_err(|(_, e)| ProgramError::from(e))?;
    cpus.into_iter().try_for_each(|cpu| {
        pe.attach(
            config,
            PerfEventScope::AllProcessesOneCpu { cpu },
            policy,
            false,
        )
        .map(drop)
    })
}

/// Why an attach failed, in the user's terms.
fn attach_message(attach: &Attach, e: &ProgramError) -> String {
    let name = attach.full_name();
    match attach {
        Attach::Kprobe {
            module, function, ..
        }
        | Attach::Kretprobe { module, function } => {
            if !tracefs::kprobes_available() {
                format!(
                    "cannot attach {name}: {}; {}",
                    no_kprobes(),
                    no_fentry_instead(attach)
                )
            } else if let Some(missing) = tracefs::missing_function(module.as_deref(), function) {
                format!("cannot attach {name}: {missing}")
            } else {
                format!("cannot attach {name}: {}", error_chain(e))
            }
        }
        Attach::Uprobe { path, .. } | Attach::Uretprobe { path, .. }
            if !Path::new(path).exists() =>
        {
            format!("cannot attach {name}: {path} does not exist")
        }
        _ => format!("cannot attach {name}: {}", error_chain(e)),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

fn test_run(ebpf: &mut Ebpf, p: &Compiled1) -> Result<(), Failure> {
    let prog = as_kind::<RawTracePoint>(program(ebpf, &p.name));
    prog.test_run(RawTracePointRunOptions::new())
        .map(drop)
        .map_err(|e| Failure {
            message: format!("cannot run {}: {}", p.attach.full_name(), error_chain(&e)),
            probe: Some(p.probe_span.clone()),
            detail: None,
        })
}

fn unload(ebpf: &mut Ebpf, name: &str) {
    let _ = match program(ebpf, name) {
        Program::TracePoint(p) => p.unload(),
        Program::KProbe(p) => p.unload(),
        Program::UProbe(p) => p.unload(),
        Program::PerfEvent(p) => p.unload(),
        Program::RawTracePoint(p) => p.unload(),
        _ => Ok(()),
    };
}

fn spawn(cmd: &str) -> Result<Child, Failure> {
    use std::os::unix::process::CommandExt;
    let mut command = std::process::Command::new("/bin/sh");
    command.arg("-c").arg(cmd);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
    command
        .spawn()
        .map_err(|e| Failure::plain(format!("cannot run `{cmd}`: {e}")))
}

/// An epoll set over the ring buffer and the signalfd: the event loop sleeps in it.
struct Epoll(RawFd);

impl Epoll {
    fn new(fds: &[RawFd]) -> Self {
        // SAFETY: plain epoll calls on descriptors this process owns.
        unsafe {
            let epfd = libc::epoll_create1(libc::EPOLL_CLOEXEC);
            for &fd in fds {
                let mut event = libc::epoll_event {
                    events: libc::EPOLLIN as u32,
                    u64: fd as u64,
                };
                libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut event);
            }
            Epoll(epfd)
        }
    }

    /// Sleeps until a descriptor is readable or `timeout_ms` passes.
    fn wait(&self, timeout_ms: i32) {
        let mut ready = [libc::epoll_event { events: 0, u64: 0 }; 2];
        // SAFETY: waiting on our epoll descriptor into a local array of the length given.
        unsafe { libc::epoll_wait(self.0, ready.as_mut_ptr(), ready.len() as i32, timeout_ms) };
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: closing our own descriptor.
        unsafe { libc::close(self.0) };
    }
}

/// SIGINT, SIGTERM and SIGCHLD, blocked and read through a signalfd so the event loop sees them.
/// Dropping it restores the signal mask it found, so a REPL can run one program after another.
struct SignalFd {
    fd: RawFd,
    old_mask: libc::sigset_t,
}

impl SignalFd {
    /// Watches the signals that stop a run, and `extra` (those of self:signal probes).
    fn new(extra: &[i32]) -> Result<Self, Failure> {
        // SAFETY: plain libc calls on a local sigset.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for &s in [libc::SIGINT, libc::SIGTERM, libc::SIGCHLD]
                .iter()
                .chain(extra)
            {
                libc::sigaddset(&mut set, s);
            }
            let mut old_mask: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old_mask);
            let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK);
            if fd < 0 {
                let error = io::Error::last_os_error();
                libc::pthread_sigmask(libc::SIG_SETMASK, &old_mask, std::ptr::null_mut());
                return Err(Failure::plain(format!("cannot watch signals: {error}")));
            }
            Ok(SignalFd { fd, old_mask })
        }
    }

    /// The next pending signal, if any.
    fn read(&self) -> Option<i32> {
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        // SAFETY: reading into a buffer of exactly the size given.
        let n = unsafe {
            libc::read(
                self.fd,
                (&mut info as *mut libc::signalfd_siginfo).cast(),
                size,
            )
        };
        (n == size as isize).then_some(info.ssi_signo as i32)
    }
}

impl Drop for SignalFd {
    fn drop(&mut self) {
        // Signals that came after the one that stopped the run (a second Ctrl-C) are taken
        // here, or unblocking would deliver them to the REPL.
        while self.read().is_some() {}
        // SAFETY: restoring the mask saved in `new`, closing our own descriptor.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.old_mask, std::ptr::null_mut());
            libc::close(self.fd);
        }
    }
}

/// Turns ring buffer records and map contents into output.
struct Relay<'c> {
    compiled: &'c Compiled,
    out: Box<dyn Write>,
    format: Format,
    formats: HashMap<usize, Vec<Piece>>,
    /// Per script map: zero() was its last clear or zero. A scalar histogram keeps no trace of
    /// that in its per-CPU array, but bpftrace's JSON shows a zeroed one as `[]`.
    zeroed: Vec<bool>,
    maps: Vec<RawMap>,
    counters: RawMap,
    cpus: usize,
    render: Renderer,
    script: Script,
}

fn raw_map(ebpf: &Ebpf, layout: &Layout, cpus: usize) -> RawMap {
    let data: &MapData = match ebpf.map(&layout.kernel_name) {
        Some(
            Map::HashMap(d)
            | Map::PerCpuHashMap(d)
            | Map::LruHashMap(d)
            | Map::PerCpuLruHashMap(d)
            | Map::PerCpuArray(d)
            | Map::Array(d)
            | Map::StackTraceMap(d),
        ) => d,
        _ => panic!("bug: map {} missing from the object", layout.kernel_name),
    };
    let per_cpu = matches!(
        layout.kind,
        MapKind::PercpuArray | MapKind::PercpuHash | MapKind::LruPercpuHash
    );
    let value = layout.value_size as usize;
    RawMap {
        fd: data.fd().as_fd().as_raw_fd(),
        key_size: layout.key_size as usize,
        value_len: if per_cpu {
            value.div_ceil(8) * 8 * cpus
        } else {
            value
        },
    }
}

impl<'c> Relay<'c> {
    fn new(
        compiled: &'c Compiled,
        ebpf: &Ebpf,
        out: Box<dyn Write>,
        format: Format,
        script: Script,
    ) -> Self {
        let cpus = sys::possible_cpus();

        let formats = compiled
            .tables
            .events
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match e {
                Event::Printf { format, .. }
                | Event::Log { format, .. }
                | Event::Cat { format, .. }
                | Event::System { format, .. } => Some((i, printf::parse_format(format).ok()?)),
                _ => None,
            })
            .collect();
        let script_maps = compiled.tables.maps.len();
        Relay {
            compiled,
            out,
            format,
            formats,
            zeroed: vec![false; script_maps],
            maps: compiled.maps.layouts[..script_maps]
                .iter()
                .map(|l| raw_map(ebpf, l, cpus))
                .collect(),
            counters: raw_map(
                ebpf,
                &compiled.maps.layouts[compiled.maps.counters as usize],
                cpus,
            ),
            cpus,
            script,
            render: Renderer::new(
                compiled.tables.stacks.then(|| {
                    raw_map(
                        ebpf,
                        &compiled.maps.layouts[compiled.maps.stacks as usize],
                        cpus,
                    )
                }),
                compiled.tables.time_formats.clone(),
            ),
        }
    }

    /// Relays events until exit(), a signal, or the `-c` command's end; a signal that a
    /// self:signal probe waits for goes to `on_signal` instead.
    fn relay(
        &mut self,
        events: &mut RingBuf<MapData>,
        signals: &SignalFd,
        mut child: Option<&mut Child>,
        on_signal: &mut dyn FnMut(i32),
    ) -> Stop {
        let epoll = Epoll::new(&[events.as_fd().as_raw_fd(), signals.fd]);
        loop {
            // The timeout only bounds how late a `-c` command's end is noticed.
            epoll.wait(1000);
            if let Some(stop) = self.drain(events) {
                return stop;
            }
            while let Some(signal) = signals.read() {
                match signal {
                    libc::SIGCHLD => {}
                    libc::SIGINT | libc::SIGTERM => return Stop::Signal,
                    other => {
                        on_signal(other);
                        if let Some(stop) = self.drain(events) {
                            return stop;
                        }
                    }
                }
            }
            if let Some(c) = child.as_mut()
                && matches!(c.try_wait(), Ok(Some(_)))
            {
                self.drain(events);
                return Stop::ChildExited;
            }
        }
    }

    /// Handles every record waiting in the ring buffer; stops at an exit().
    fn drain(&mut self, events: &mut RingBuf<MapData>) -> Option<Stop> {
        let mut stop = None;
        while let Some(record) = events.next() {
            stop = self.event(&record);
            if stop.is_some() {
                break;
            }
        }
        let _ = self.out.flush();
        stop
    }

    fn event(&mut self, bytes: &[u8]) -> Option<Stop> {
        let id = u64::from_le_bytes(bytes[..8].try_into().ok()?) as usize;
        let event = self.compiled.tables.events.get(id)?;
        let payload = &bytes[8..];
        match event {
            Event::Printf { args, .. } => {
                let text = self.formatted(id, args, payload);
                let text = match self.format {
                    Format::Text => text,
                    Format::Json => output::json::printf(&text),
                };
                let _ = self.out.write_all(text.as_bytes());
            }
            Event::Log {
                error,
                args,
                at,
                expanded_from,
                ..
            } => {
                let text = self.formatted(id, args, payload);
                let text = text.strip_suffix('\n').unwrap_or(&text);
                let level = if *error { "ERROR" } else { "WARNING" };
                let _ = self.out.flush();
                eprintln!("{}: {level}: {text}", self.script.place(at));
                // As bpftrace: each macro call it came through, with its source line.
                for call in expanded_from {
                    eprintln!("{}: {level}: expanded from", self.script.place(call));
                    eprintln!("{}", self.script.context(call));
                }
            }
            Event::Join { sep } => {
                let parts: Vec<String> = payload
                    .chunks(rbt_compiler::sema::JOIN_ARG_BYTES)
                    .map(|c| {
                        let end = c.iter().position(|b| *b == 0).unwrap_or(c.len());
                        String::from_utf8_lossy(&c[..end]).into_owned()
                    })
                    .take_while(|s| !s.is_empty())
                    .collect();
                let text = parts.join(sep);
                let text = match self.format {
                    Format::Text => format!("{text}\n"),
                    Format::Json => output::json::join(&text),
                };
                let _ = self.out.write_all(text.as_bytes());
            }
            Event::Time { format } => {
                let _ = self.out.write_all(local_time(format).as_bytes());
            }
            Event::Cat { args, .. } => {
                let path = self.formatted(id, args, payload);
                match std::fs::read(&path) {
                    Ok(bytes) => {
                        let _ = self.out.write_all(&bytes[..bytes.len().min(MAX_CAT_BYTES)]);
                    }
                    Err(e) => eprintln!(
                        "ERROR: failed to open file '{path}' ({})",
                        without_os_error(&e)
                    ),
                }
            }
            Event::System { args, .. } => {
                let command = self.formatted(id, args, payload);
                let _ = self.out.flush();
                match std::process::Command::new("/bin/sh")
                    .arg("-c")
                    .arg(&command)
                    .stdin(std::process::Stdio::null())
                    .output()
                {
                    Ok(done) => {
                        let _ = self.out.write_all(&done.stdout);
                    }
                    Err(e) => eprintln!("system: cannot run {command}: {e}"),
                }
            }
            Event::Exit => {
                let code = i64::from_le_bytes(payload[..8].try_into().ok()?);
                return Some(Stop::Exit(code as i32));
            }
            Event::PrintValue { ty } => {
                let value = decode::value(ty, payload, &self.render);
                let text = match self.format {
                    Format::Text => output::format_value(&value),
                    Format::Json => output::json::print_value(&value),
                };
                let _ = self.out.write_all(text.as_bytes());
            }
            Event::PrintMap { map, top, div } => {
                let text = self.format_map_for_print(*map, *top as usize, *div);
                let _ = self.out.write_all(text.as_bytes());
            }
            Event::Clear { map } => {
                self.clear(*map, false);
                self.zeroed[*map] = false;
            }
            Event::Zero { map } => {
                self.clear(*map, true);
                self.zeroed[*map] = true;
            }
        }
        None
    }

    /// The text of a printf-like event: its format with the record's arguments.
    fn formatted(&self, id: usize, args: &[Type], payload: &[u8]) -> String {
        let mut values = Vec::new();
        let mut off = 0;
        for t in args {
            values.push(decode::value(
                t,
                &payload[off.min(payload.len())..],
                &self.render,
            ));
            off += t.size();
        }
        output::printf::format_printf(&self.formats[&id], &values)
    }

    fn format_map(&self, index: usize, top: usize, div: u64) -> String {
        self.format_entries(index, top, div, false)
    }

    /// `print(@m)`: like the maps at exit, but an empty scalar map shows its zero value.
    fn format_map_for_print(&self, index: usize, top: usize, div: u64) -> String {
        self.format_entries(index, top, div, true)
    }

    fn format_entries(&self, index: usize, top: usize, div: u64, zero_if_empty: bool) -> String {
        let info = &self.compiled.tables.maps[index];
        let layout = &self.compiled.maps.layouts[index];
        let mut entries =
            decode::read_map(&self.maps[index], info, layout, self.cpus, &self.render);
        if entries.is_empty()
            && zero_if_empty
            && let Some(zero) = decode::zero_entry(info, &self.render)
        {
            entries.push(zero);
        }
        match self.format {
            Format::Text => output::format_map(&info.name, entries, top, div),
            Format::Json => {
                if entries.is_empty()
                    && self.zeroed[index]
                    && info.key.is_none()
                    && let Some(empty) = empty_histogram(&info.value)
                {
                    entries.push(output::Entry {
                        key: None,
                        value: output::MapValue::Agg(empty),
                    });
                }
                output::json::map(&info.name, entries, top, div).unwrap_or_default()
            }
        }
    }

    /// "Attached N probes": a line on stderr, or a JSON object in the output.
    fn attached(&mut self, probes: usize) {
        match self.format {
            Format::Text => eprintln!(
                "Attached {probes} probe{}",
                if probes == 1 { "" } else { "s" }
            ),
            Format::Json => {
                let _ = self
                    .out
                    .write_all(output::json::attached_probes(probes).as_bytes());
                let _ = self.out.flush();
            }
        }
    }

    /// clear(): remove every key (arrays: zero them); zero(): set every value to zero.
    fn clear(&self, index: usize, keep_keys: bool) {
        let map = &self.maps[index];
        let layout = &self.compiled.maps.layouts[index];
        let zeros = vec![0u8; map.value_len];
        for key in map.keys() {
            if keep_keys || layout.kind == MapKind::PercpuArray {
                let _ = map.update(&key, &zeros);
            } else {
                let _ = map.delete(&key);
            }
        }
    }

    fn print_all_maps(&mut self) {
        let maps = &self.compiled.tables.maps;
        let mut order: Vec<usize> = (0..maps.len()).collect();
        order.sort_by(|a, b| maps[*a].name.cmp(&maps[*b].name));
        let texts: Vec<String> = order
            .into_iter()
            .map(|i| self.format_map(i, 0, 1))
            .filter(|t| !t.is_empty())
            .collect();
        // bpftrace ends its text output with a blank line, maps or not.
        if self.format == Format::Text {
            let _ = writeln!(self.out);
        }
        for t in texts {
            let _ = self.out.write_all(t.as_bytes());
        }
        let _ = self.out.flush();
    }

    /// Reports what the kernel could not record: never dropped silently.
    fn report_losses(&mut self) {
        let count = |slot: u32| -> u64 {
            self.counters
                .lookup(&slot.to_le_bytes())
                .map(|v| {
                    v.chunks(8)
                        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                        .sum()
                })
                .unwrap_or(0)
        };
        let lost = count(0);
        if lost > 0 {
            match self.format {
                Format::Text => eprintln!("{lost} events lost: the ring buffer was full"),
                Format::Json => {
                    let _ = self
                        .out
                        .write_all(output::json::lost_events(lost).as_bytes());
                    let _ = self.out.flush();
                }
            }
        }
        for (i, m) in self.compiled.tables.maps.iter().enumerate() {
            let dropped = count(1 + i as u32);
            if dropped > 0 {
                let updates = if dropped == 1 { "update" } else { "updates" };
                eprintln!(
                    "WARNING: Map full; can't update element: {dropped} {updates} to {} dropped",
                    m.name
                );
            }
        }
    }
}

/// A histogram with no counts, for a scalar hist or lhist map (None for other maps).
fn empty_histogram(value: &rbt_compiler::sema::MapValue) -> Option<output::Aggregate> {
    use rbt_compiler::catalogue::AggKind;
    match value {
        rbt_compiler::sema::MapValue::Agg {
            kind: AggKind::Hist,
            params,
            ..
        } => Some(output::Aggregate::Hist {
            bits: params.hist_bits,
            buckets: Vec::new(),
        }),
        rbt_compiler::sema::MapValue::Agg {
            kind: AggKind::Lhist,
            params,
            ..
        } => Some(output::Aggregate::Lhist {
            min: params.lhist_min,
            max: params.lhist_max,
            step: params.lhist_step,
            buckets: Vec::new(),
        }),
        _ => None,
    }
}

/// An I/O error's words without Rust's " (os error N)" suffix, as C tools print strerror(3).
fn without_os_error(e: &io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// At most this much of a file is printed by `cat()`, as bpftrace's `max_cat_bytes`.
const MAX_CAT_BYTES: usize = 10240;

/// The local wall-clock time in a strftime(3) format.
fn local_time(format: &str) -> String {
    let Ok(format) = std::ffi::CString::new(format) else {
        return String::new();
    };
    let mut buf = vec![0u8; 512];
    // SAFETY: time, localtime_r and strftime get valid pointers and the buffer's real size.
    let written = unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            return String::new();
        }
        libc::strftime(buf.as_mut_ptr().cast(), buf.len(), format.as_ptr(), &tm)
    };
    String::from_utf8_lossy(&buf[..written]).into_owned()
}
