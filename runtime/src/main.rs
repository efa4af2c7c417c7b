//! `rbt`: bpftrace's language for eBPF, compiled without LLVM.

mod btf;
mod decode;
mod info;
mod output;
mod render;
mod repl;
mod session;
mod sys;
mod tracefs;

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use clap::Parser;
use rbt_compiler::catalogue::Attach;
use rbt_compiler::diag::{self, Diagnostic};
use rbt_compiler::sema::{MissingProbes, Options as CompileOptions};

#[derive(Parser)]
#[command(
    name = "rbt",
    version,
    about = "bpftrace one-liners for eBPF, compiled without LLVM"
)]
struct Cli {
    /// The program to run, given on the command line.
    #[arg(short = 'e', value_name = "PROGRAM")]
    program: Option<String>,
    /// A script file to run (`-` reads the program from standard input), then the positional
    /// parameters `$1`, `$2`... (with -e, all of these are parameters). After `--`, options
    /// `--name[=value]` are the program's own, read with getopt().
    #[arg(value_name = "FILE / ARGS")]
    args: Vec<String>,
    /// List probes (tracepoints), optionally those matching PATTERN (`*` wildcards).
    #[arg(short = 'l', long = "list", value_name = "PATTERN", num_args = 0..=1, default_missing_value = "*")]
    list: Option<String>,
    /// Compile and load every program into the kernel (the verifier checks it), attach nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print a stage instead of running: ast, ir, bpf, or obj=FILE to write the ELF object.
    #[arg(long, value_name = "STAGE")]
    emit: Option<String>,
    /// Also print each program's verifier log.
    #[arg(short = 'v', long)]
    verbose: bool,
    /// Leave out informational lines.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Run CMD, trace while it runs, and end when it exits.
    #[arg(short = 'c', long = "cmd", value_name = "CMD")]
    command: Option<String>,
    /// The target process id: uprobes attach to it only, other probes fire only in it.
    #[arg(short = 'p', long = "pid", value_name = "PID")]
    pid: Option<String>,
    /// Allow functions that change the system: system() and signal().
    #[arg(long = "unsafe")]
    allow_unsafe: bool,
    /// Write the output to FILE instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<std::path::PathBuf>,
    /// Output format: text or json (one JSON object per line).
    #[arg(short = 'f', value_name = "FORMAT")]
    format: Option<String>,
    /// Print what this kernel and rbt support, then exit.
    #[arg(long)]
    info: bool,
    /// Leave out the compiler's warnings.
    #[arg(long = "no-warnings")]
    no_warnings: bool,
    /// Attach only the probes whose names match REGEX (begin and end always run).
    #[arg(long = "probe-filter", value_name = "REGEX")]
    probe_filter: Option<String>,
}

fn main() -> ExitCode {
    // What follows the first `--` belongs to the program: parameters and named options.
    let mut argv: Vec<String> = std::env::args().collect();
    let program_args = match argv.iter().position(|a| a == "--") {
        Some(i) => {
            let rest = argv.split_off(i + 1);
            argv.pop();
            rest
        }
        None => Vec::new(),
    };
    let cli = Cli::parse_from(argv);
    match real_main(cli, program_args) {
        Ok(code) => ExitCode::from(code as u8),
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn real_main(cli: Cli, program_args: Vec<String>) -> Result<i32, String> {
    // Checked before anything else, in bpftrace's words.
    output_format(&cli)?;
    if cli.info {
        print!("{}", info::report());
        return Ok(0);
    }
    let pid = target_pid(&cli)?;
    let probe_filter = match &cli.probe_filter {
        Some(r) => Some(
            regex::Regex::new(r)
                .map_err(|e| format!("ERROR: invalid --probe-filter regex: {e}"))?,
        ),
        None => None,
    };
    let kernel = tracefs::TraceFs::default();
    if let Some(pattern) = &cli.list {
        use rbt_compiler::kernel::Kernel;
        for (category, name) in kernel.tracepoints() {
            let full = format!("tracepoint:{category}:{name}");
            if rbt_stdlib::glob(pattern, &full)
                || rbt_stdlib::glob(pattern, &format!("{category}:{name}"))
            {
                println!("{full}");
            }
        }
        return Ok(0);
    }

    let (file, rest) = match (&cli.program, cli.args.split_first()) {
        (None, Some((file, rest))) => (Some(file.as_str()), rest.to_vec()),
        _ => (None, cli.args.clone()),
    };
    let (mut positional, named) = program_arguments(program_args);
    positional.splice(0..0, rest);
    let (file_name, source) = match (&cli.program, file) {
        (Some(p), _) => ("stdin".to_string(), p.clone()),
        (None, Some("-")) => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| format!("rbt: cannot read standard input: {e}"))?;
            ("stdin".to_string(), s)
        }
        (None, Some(path)) => {
            let s = std::fs::read_to_string(path)
                .map_err(|e| format!("rbt: cannot read {path}: {e}"))?;
            (path.to_string(), s)
        }
        (None, None) if cli.emit.is_none() && std::io::stdin().is_terminal() => {
            return repl::run(&kernel, &session_options(&cli));
        }
        (None, None) => {
            return Err(
                "rbt: give a program with -e 'PROGRAM' or a script file (see rbt --help)".into(),
            );
        }
    };

    let color = std::io::stderr().is_terminal();
    let show = |ds: &[Diagnostic]| eprint!("{}", diag::render(ds, &file_name, &source, color));
    let catalogue = rbt_stdlib::catalogue();
    let options = CompileOptions {
        target_pid: pid,
        positional,
        allow_unsafe: cli.allow_unsafe,
        stack_mode: std::env::var("BPFTRACE_STACK_MODE")
            .ok()
            .and_then(|m| rbt_compiler::types::StackMode::named(&m)),
        cpus: sys::possible_cpus() as u32,
        named: named.clone(),
        dummy_ts_map: std::env::var("BPFTRACE_DUMMY_TS_MAP").ok(),
        ..CompileOptions::default()
    };
    let mut compiled = match rbt_compiler::compile(&source, &catalogue, &kernel, &options) {
        Ok(c) => c,
        Err(errors) => {
            show(&errors);
            return Ok(1);
        }
    };
    if !cli.no_warnings {
        show(&compiled.warnings);
    } else if compiled.missing_probes == MissingProbes::Warn {
        compiled.missing_probes = MissingProbes::Ignore;
    }
    check_named_options(&named, &compiled.tables.getopts)?;
    if let Some(filter) = &probe_filter {
        // The other programs stay in the object, never loaded.
        compiled.programs.retain(|p| {
            matches!(p.attach, Attach::Begin | Attach::End)
                || filter.is_match(&p.attach.full_name())
        });
    }

    if let Some(stage) = &cli.emit {
        return emit(stage, &source, &compiled).map(|()| 0);
    }

    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("rbt needs root to load eBPF programs: run it with sudo".into());
    }
    let run_options = session::Options {
        script: session::Script {
            name: file_name.clone(),
            text: source.clone(),
        },
        ..session_options(&cli)
    };
    match session::run(&compiled, &kernel, &run_options) {
        Ok(code) => Ok(code),
        Err(failure) => {
            report_failure(&failure, show);
            Ok(1)
        }
    }
}

fn session_options(cli: &Cli) -> session::Options {
    session::Options {
        dry_run: cli.dry_run,
        verbose: cli.verbose,
        quiet: cli.quiet,
        command: cli.command.clone(),
        notify_attached: std::env::var_os("__BPFTRACE_NOTIFY_PROBES_ATTACHED").is_some(),
        pid: target_pid(cli).ok().flatten(),
        output: cli.output.clone(),
        format: output_format(cli).unwrap_or_default(),
        script: session::Script::default(),
    }
}

/// Splits what follows `--` into positional parameters and named options (`--name` or
/// `--name=value`).
fn program_arguments(args: Vec<String>) -> (Vec<String>, Vec<(String, Option<String>)>) {
    let mut positional = Vec::new();
    let mut named = Vec::new();
    for arg in args {
        match arg.strip_prefix("--") {
            Some(option) if !option.is_empty() => named.push(match option.split_once('=') {
                Some((name, value)) => (name.to_string(), Some(value.to_string())),
                None => (option.to_string(), None),
            }),
            _ => positional.push(arg),
        }
    }
    (positional, named)
}

/// Every named option given must be one the program reads with getopt().
fn check_named_options(
    named: &[(String, Option<String>)],
    getopts: &[String],
) -> Result<(), String> {
    let unexpected: Vec<String> = named
        .iter()
        .filter(|(n, _)| !getopts.contains(n))
        .map(|(n, _)| format!("--{n}"))
        .collect();
    if unexpected.is_empty() {
        return Ok(());
    }
    let mut message = format!(
        "ERROR: unexpected program command line options: {}",
        unexpected.join(", ")
    );
    if getopts.is_empty() {
        message.push_str("\nHINT: the program reads no options (getopt())");
    } else {
        let expected: Vec<String> = getopts.iter().map(|n| format!("--{n}")).collect();
        message.push_str(&format!(
            "\nHINT: expected program options: {}",
            expected.join(", ")
        ));
    }
    Err(message)
}

/// `-p PID`, checked as bpftrace checks it.
fn target_pid(cli: &Cli) -> Result<Option<u32>, String> {
    let Some(text) = &cli.pid else {
        return Ok(None);
    };
    let pid: u64 = text
        .parse()
        .map_err(|_| format!("ERROR: Failed to parse pid: invalid integer: {text}"))?;
    let pid_max = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(4_194_304u64);
    if pid == 0 || pid > pid_max {
        return Err(format!("ERROR: Pid out of range: {pid}"));
    }
    Ok(Some(pid as u32))
}

fn output_format(cli: &Cli) -> Result<session::Format, String> {
    match cli.format.as_deref() {
        None | Some("text") => Ok(session::Format::Text),
        Some("json") => Ok(session::Format::Json),
        Some(other) => Err(format!("ERROR: Invalid output format \"{other}\"")),
    }
}

/// Shows a load or attach failure next to its probe, or as a plain line when it has none.
fn report_failure(failure: &session::Failure, show: impl Fn(&[Diagnostic])) {
    match &failure.probe {
        Some(span) => {
            let mut d = Diagnostic::error("E0501", failure.message.clone(), span.clone());
            if let Some(detail) = &failure.detail {
                d = d.with_help(detail.clone());
            }
            show(&[d]);
        }
        None => eprintln!("rbt: {}", failure.message),
    }
}

fn emit(stage: &str, source: &str, compiled: &rbt_compiler::Compiled) -> Result<(), String> {
    match stage {
        "ast" => {
            let script =
                rbt_compiler::syntax::parse(source).map_err(|_| "rbt: parse failed".to_string())?;
            println!("{script:#?}");
        }
        "ir" => {
            for p in &compiled.programs {
                println!(
                    "; {} ({})\n{}",
                    p.attach.full_name(),
                    p.name,
                    p.ir.display()
                );
            }
        }
        "bpf" => {
            for p in &compiled.programs {
                let name = |i: u32| {
                    compiled.tables.maps.get(i as usize).map_or_else(
                        || compiled.maps.layouts[i as usize].kernel_name.clone(),
                        |m| m.name.clone(),
                    )
                };
                println!(
                    "{} ({}):\n{}",
                    p.attach.full_name(),
                    p.name,
                    rbt_compiler::bpf::listing(&p.code, &name)
                );
            }
        }
        other => match other.strip_prefix("obj=") {
            Some(path) => std::fs::write(path, &compiled.object)
                .map_err(|e| format!("rbt: cannot write {path}: {e}"))?,
            None => {
                return Err(format!(
                    "rbt: --emit takes ast, ir, bpf or obj=FILE, not `{other}`"
                ));
            }
        },
    }
    Ok(())
}
