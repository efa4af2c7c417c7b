//! rbt's compiler: source text in; an eBPF ELF object, its tables and diagnostics out.
//! It does no I/O: kernel facts arrive through the `Kernel` trait, builtins through the
//! `Catalogue` handed in.

pub mod ast;
pub mod bpf;
pub mod catalogue;
pub mod ctypes;
pub mod diag;
pub mod elf;
pub mod kernel;
pub mod lower;
pub mod macros;
pub mod maps;
pub mod opt;
pub mod printf;
pub mod sema;
pub mod syntax;
pub mod types;

pub use cranelift_codegen::ir;

use ast::Span;
use catalogue::{Attach, Catalogue, ExpandError};
use diag::Diagnostic;
use kernel::Kernel;
use lower::MapRefs;
use sema::{MissingProbes, Options, Tables};

/// One eBPF program: one action for one attach point.
pub struct Program {
    pub attach: Attach,
    /// The probe as written, for messages about this program.
    pub probe_span: Span,
    /// The FUNC symbol in the object.
    pub name: String,
    /// The optimized IR, for `--emit ir`.
    pub ir: ir::Function,
    pub code: bpf::Program,
    /// The functions its `for` loops hand to helpers, compiled.
    pub callbacks: Vec<(bpf::Program, bpf::CallbackKind)>,
}

pub struct Compiled {
    pub programs: Vec<Program>,
    pub tables: Tables,
    pub maps: MapRefs,
    /// The ELF object holding every program and map.
    pub object: Vec<u8>,
    /// The BTF of the programs that have callbacks, for loading them without aya.
    pub func_btf: elf::FuncBtf,
    pub warnings: Vec<Diagnostic>,
    /// `config = { print_maps_on_exit = false }` turns the printing at exit off.
    pub print_maps_on_exit: bool,
    /// What the runtime does with a probe that cannot attach because its target is missing.
    pub missing_probes: sema::MissingProbes,
}

/// Parses, checks and compiles a whole script. On failure, every error found.
pub fn compile(
    source: &str,
    catalogue: &Catalogue,
    kernel: &dyn Kernel,
    options: &Options,
) -> Result<Compiled, Vec<Diagnostic>> {
    let mut script = syntax::parse(source)?;
    macros::expand(&mut script)?;
    let mut diagnostics = Vec::new();
    let (options, print_maps_on_exit) = configure(&script, options)?;
    let options = &options;

    // Expand every probe spec into attach points.
    let mut programs: Vec<(usize, Attach, Span)> = Vec::new();
    for (ai, action) in script.actions.iter().enumerate() {
        for spec in &action.probes {
            let Some(provider) = catalogue.provider(&spec.provider) else {
                let names = catalogue
                    .providers
                    .iter()
                    .flat_map(|p| std::iter::once(p.name).chain(p.aliases.iter().copied()));
                let mut d = Diagnostic::error(
                    "E0201",
                    format!("unknown probe type `{}`", spec.provider),
                    spec.span.clone(),
                )
                .with_label("not a probe type");
                if let Some(c) = diag::closest(&spec.provider, names) {
                    d = d.with_help(format!("did you mean `{c}`?"));
                }
                diagnostics.push(d);
                continue;
            };
            let missing = |d: Diagnostic| match options.missing_probes {
                MissingProbes::Error => Some(d),
                MissingProbes::Warn => Some(Diagnostic {
                    severity: diag::Severity::Warning,
                    ..d.with_help("skipped: the config says missing_probes = \"warn\"")
                }),
                MissingProbes::Ignore => None,
            };
            match (provider.expand)(&spec.parts, kernel) {
                Ok(attaches) if attaches.is_empty() => diagnostics.extend(missing(
                    Diagnostic::error(
                        "E0202",
                        format!("no probes match `{}`", spec.text),
                        spec.span.clone(),
                    )
                    .with_label("matches nothing"),
                )),
                Ok(attaches) => {
                    programs.extend(attaches.into_iter().map(|a| (ai, a, spec.span.clone())))
                }
                Err(ExpandError::Missing(message)) => diagnostics.extend(missing(
                    Diagnostic::error("E0203", message, spec.span.clone())
                        .with_label(format!("in `{}`", spec.text)),
                )),
                Err(ExpandError::Invalid(message)) => diagnostics.push(
                    Diagnostic::error("E0203", message, spec.span.clone())
                        .with_label(format!("in `{}`", spec.text)),
                ),
            }
        }
    }

    let mut checker = sema::Checker::new(catalogue, kernel, options);
    checker.tables.ctypes = ctypes::CTypes::from_script(&script.c_definitions)?;
    // Maps are global: a probe may read or print a map that a later probe assigns. A first
    // pass fixes every map's types from its assignments wherever they are; its messages and
    // events are dropped, and the second pass checks everything against those types.
    for (ai, attach, _) in &programs {
        checker.check_action(&script.actions[*ai], attach);
    }
    checker.diagnostics.clear();
    checker.tables.events.clear();
    let mut typed = Vec::new();
    for (ai, attach, _) in &programs {
        typed.push(checker.check_action(&script.actions[*ai], attach));
    }
    diagnostics.append(&mut checker.diagnostics);
    let (errors, warnings): (Vec<_>, Vec<_>) =
        diagnostics.into_iter().partition(Diagnostic::is_error);
    if !errors.is_empty() {
        return Err(errors);
    }

    let mut tables = std::mem::take(&mut checker.tables);
    for decl in &script.map_decls {
        match decl.kind.as_str() {
            "hash" | "lruhash" | "percpuhash" | "percpulruhash" => {
                tables.declared.insert(decl.name.clone(), decl.clone());
            }
            other => {
                let kinds = ["hash", "lruhash", "percpuhash", "percpulruhash"];
                let mut d = Diagnostic::error(
                    "E0205",
                    format!("unknown map kind `{other}`"),
                    decl.span.clone(),
                )
                .with_label("not a map kind");
                if let Some(c) = diag::closest(other, kinds) {
                    d = d.with_help(format!("did you mean `{c}`?"));
                }
                return Err(vec![d]);
            }
        }
    }
    let mut maps = MapRefs::new(&tables, options);
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut scratch = 0;
    for (i, ((ai, attach, probe_span), types)) in programs.into_iter().zip(&typed).enumerate() {
        let fields = checker.args_fields(&attach);
        let function = checker.function_proto(&attach);
        let input = lower::Input {
            catalogue,
            tables: &tables,
            types,
            maps: &maps,
            attach: &attach,
            args_fields: fields.as_deref(),
            function: function.as_ref(),
            options,
        };
        let lower::Lowered {
            mut func,
            callbacks,
            scratch_bytes,
        } = lower::lower_action(&script.actions[ai], &input);
        if scratch_bytes > maps::SCRATCH_BYTES {
            errors.push(
                Diagnostic::error(
                    "E0402",
                    format!(
                        "this probe needs {scratch_bytes} bytes for its strings and records, more than the {} a per-CPU buffer may hold",
                        maps::SCRATCH_BYTES
                    ),
                    probe_span,
                )
                .with_help("fewer long strings at once, or a smaller max_strlen (config = { max_strlen = 256 })"),
            );
            continue;
        }
        // Temporaries are placed from the top of the scratch value down.
        if scratch_bytes > 0 {
            scratch = maps::SCRATCH_BYTES;
        }
        if let Err(e) = opt::optimize(&mut func) {
            panic!("bug: the optimizer rejected lowered IR: {e}");
        }
        let mut compiled_callbacks = Vec::new();
        let mut failure = None;
        for (mut callback, kind) in callbacks {
            if let Err(e) = opt::optimize(&mut callback) {
                panic!("bug: the optimizer rejected a lowered callback: {e}");
            }
            match bpf::compile(&callback) {
                Ok(code) => compiled_callbacks.push((code, kind)),
                Err(e) => failure = Some(e),
            }
        }
        let code = match failure {
            Some(e) => Err(e),
            None => bpf::compile(&func),
        };
        match code {
            Ok(code) => out.push(Program {
                name: program_name(i, &attach),
                attach,
                probe_span,
                ir: func,
                code,
                callbacks: compiled_callbacks,
            }),
            Err(e) => errors.push(
                Diagnostic::error(
                    "E0401",
                    format!("this probe's program cannot be compiled: {e}"),
                    probe_span,
                )
                .with_help(
                    "large strings and tuples take stack space; fewer or shorter ones may fit",
                ),
            ),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    maps.layouts[maps.scratch as usize] = maps::scratch_layout(scratch);
    let sections: Vec<elf::ProgramSection> = out
        .iter()
        .map(|p| elf::ProgramSection {
            section: p.attach.section(),
            name: p.name.clone(),
            program: &p.code,
            callbacks: p.callbacks.iter().map(|(c, k)| (c, *k)).collect(),
        })
        .collect();
    let map_defs: Vec<elf::MapDef> = maps
        .layouts
        .iter()
        .map(|l| elf::MapDef {
            name: l.kernel_name.clone(),
            map_type: l.kind as u32,
            key_size: l.key_size,
            value_size: l.value_size,
            max_entries: l.max_entries,
            flags: 0,
        })
        .collect();
    let (object, func_btf) = elf::write_with_btf(&sections, &map_defs);
    Ok(Compiled {
        programs: out,
        tables,
        maps,
        object,
        func_btf,
        warnings,
        print_maps_on_exit,
        missing_probes: options.missing_probes,
    })
}

/// Applies the script's `config = { ... }` block to the options; also says whether the maps
/// are printed at exit.
fn configure(script: &ast::Script, options: &Options) -> Result<(Options, bool), Vec<Diagnostic>> {
    // Keys rbt acts on, then keys bpftrace has that change nothing rbt does yet.
    const USED: [&str; 5] = [
        "max_strlen",
        "max_map_keys",
        "print_maps_on_exit",
        "stack_mode",
        "missing_probes",
    ];
    const ACCEPTED: [&str; 15] = [
        "on_stack_limit",
        "max_probes",
        "max_bpf_progs",
        "perf_rb_pages",
        "log_size",
        "cache_user_symbols",
        "cpp_demangle",
        "lazy_symbolication",
        "license",
        "max_cat_bytes",
        "show_debug_info",
        "use_blazesym",
        "str_trunc_trailer",
        "unstable_tseries",
        "unstable_macro",
    ];
    let mut options = options.clone();
    let mut print_maps = true;
    let mut errors = Vec::new();
    for item in &script.config {
        // bpftrace accepts the names in any case and with a BPFTRACE_ prefix.
        let key = item.key.to_ascii_lowercase();
        let key = key.strip_prefix("bpftrace_").unwrap_or(&key);
        let number = || item.value.parse::<u64>().ok();
        match key {
            "max_strlen" | "strlen" => match number() {
                Some(n) if n > 0 => options.max_strlen = n as usize,
                _ => errors.push(Diagnostic::error(
                    "E0206",
                    "max_strlen takes a positive number",
                    item.span.clone(),
                )),
            },
            "max_map_keys" | "map_keys_max" => match number() {
                Some(n) if n > 0 && n <= u64::from(u32::MAX) => options.max_map_keys = n as u32,
                _ => errors.push(Diagnostic::error(
                    "E0206",
                    "max_map_keys takes a positive number",
                    item.span.clone(),
                )),
            },
            "print_maps_on_exit" => print_maps = matches!(item.value.as_str(), "true" | "1"),
            "missing_probes" => match sema::MissingProbes::named(&item.value) {
                Some(m) => options.missing_probes = m,
                None => errors.push(Diagnostic::error(
                    "E0206",
                    "missing_probes is one of error, warn or ignore",
                    item.span.clone(),
                )),
            },
            "stack_mode" => match crate::types::StackMode::named(&item.value) {
                // The environment's mode wins over the script's, as in bpftrace.
                Some(mode) => {
                    options.stack_mode.get_or_insert(mode);
                }
                None => errors.push(Diagnostic::error(
                    "E0206",
                    "stack_mode is one of bpftrace, perf, raw, build_id",
                    item.span.clone(),
                )),
            },
            k if ACCEPTED.contains(&k) || k.starts_with("unstable_") => {}
            k => {
                let mut d = Diagnostic::error(
                    "E0207",
                    format!("unknown config key `{k}`"),
                    item.span.clone(),
                )
                .with_label("not a config key");
                if let Some(c) = diag::closest(k, USED.into_iter().chain(ACCEPTED)) {
                    d = d.with_help(format!("did you mean `{c}`?"));
                }
                errors.push(d);
            }
        }
    }
    if errors.is_empty() {
        Ok((options, print_maps))
    } else {
        Err(errors)
    }
}

/// `p<index>_<probe name>`, cut to the kernel's 15 characters.
fn program_name(index: usize, attach: &Attach) -> String {
    let base = attach
        .function()
        .map(str::to_string)
        .unwrap_or_else(|| match attach {
            Attach::Tracepoint { name, .. } => name.clone(),
            other => other.full_name(),
        });
    let mut s = format!("p{index}_");
    s.extend(
        base.chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_'),
    );
    s.truncate(15);
    s
}
