//! The shape of the catalogue of builtins and probe providers. The records themselves live in
//! the `rbt-stdlib` crate and are handed to `compile` as a value: the compiler never spells a
//! builtin's or a provider's name.

use crate::kernel::Kernel;
use crate::lower::{Lowerer, Val};
use crate::types::{Render, Type};

/// Where a builtin means something.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProbeClass {
    /// `begin` and `end`, run by the runtime with BPF_PROG_TEST_RUN.
    Special,
    Tracepoint,
    Kprobe,
    Kretprobe,
    Uprobe,
    Uretprobe,
    Fentry,
    Fexit,
    /// `interval` and `profile`: perf events.
    Perf,
}

/// One concrete attach point: what a probe spec expands to (wildcards give several).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Attach {
    Begin,
    End,
    Tracepoint {
        category: String,
        name: String,
    },
    /// `module` is given when the script names it (`kprobe:MODULE:FN`).
    Kprobe {
        module: Option<String>,
        function: String,
        offset: u64,
    },
    Kretprobe {
        module: Option<String>,
        function: String,
    },
    /// fentry and fexit attach through BTF: vmlinux functions only. `for_kprobe`: chosen for
    /// a kprobe (kretprobe) the kernel cannot attach; it keeps the kprobe's name.
    /// `module`: where the function's BTF is (None: vmlinux).
    Fentry {
        module: Option<String>,
        function: String,
        for_kprobe: bool,
    },
    Fexit {
        module: Option<String>,
        function: String,
        for_kprobe: bool,
    },
    Uprobe {
        path: String,
        symbol: String,
        offset: u64,
    },
    Uretprobe {
        path: String,
        symbol: String,
    },
    /// Fires on one CPU every `period_ns`.
    Interval {
        period_ns: u64,
    },
    /// Fires on every CPU `frequency` times a second.
    Profile {
        frequency: u64,
    },
    /// A perf software event (PERF_TYPE_SOFTWARE `config`) on every CPU, once every `count`
    /// occurrences; `event` is the name as the script wrote it.
    Software {
        event: String,
        config: u64,
        count: u64,
    },
    /// Runs in rbt's own context each time rbt receives signal `number` (`self:signal:NAME`).
    Signal {
        name: String,
        number: i32,
    },
}

impl Attach {
    pub fn class(&self) -> ProbeClass {
        match self {
            Attach::Begin | Attach::End | Attach::Signal { .. } => ProbeClass::Special,
            Attach::Tracepoint { .. } => ProbeClass::Tracepoint,
            Attach::Kprobe { .. } => ProbeClass::Kprobe,
            Attach::Kretprobe { .. } => ProbeClass::Kretprobe,
            Attach::Fentry { .. } => ProbeClass::Fentry,
            Attach::Fexit { .. } => ProbeClass::Fexit,
            Attach::Uprobe { .. } => ProbeClass::Uprobe,
            Attach::Uretprobe { .. } => ProbeClass::Uretprobe,
            Attach::Interval { .. } | Attach::Profile { .. } | Attach::Software { .. } => {
                ProbeClass::Perf
            }
        }
    }

    /// The ELF section name, which tells loaders the program type.
    pub fn section(&self) -> String {
        match self {
            Attach::Begin | Attach::End | Attach::Signal { .. } => {
                "raw_tracepoint/rbt_special".into()
            }
            Attach::Tracepoint { category, name } => format!("tracepoint/{category}/{name}"),
            Attach::Kprobe { function, .. } => format!("kprobe/{function}"),
            Attach::Kretprobe { function, .. } => format!("kretprobe/{function}"),
            Attach::Fentry { function, .. } => format!("fentry/{function}"),
            Attach::Fexit { function, .. } => format!("fexit/{function}"),
            Attach::Uprobe { .. } => "uprobe".into(),
            Attach::Uretprobe { .. } => "uretprobe".into(),
            Attach::Interval { .. } | Attach::Profile { .. } | Attach::Software { .. } => {
                "perf_event".into()
            }
        }
    }

    /// The full probe name, as bpftrace's `probe` builtin gives it.
    pub fn full_name(&self) -> String {
        match self {
            Attach::Begin => "begin".into(),
            Attach::End => "end".into(),
            Attach::Tracepoint { category, name } => format!("tracepoint:{category}:{name}"),
            Attach::Kprobe {
                module,
                function,
                offset: 0,
            } => format!("kprobe:{}", qualified(module, function)),
            Attach::Kprobe {
                module,
                function,
                offset,
            } => format!("kprobe:{}+{offset}", qualified(module, function)),
            Attach::Kretprobe { module, function } => {
                format!("kretprobe:{}", qualified(module, function))
            }
            Attach::Fentry {
                module,
                function,
                for_kprobe,
            } => {
                let provider = if *for_kprobe { "kprobe" } else { "fentry" };
                format!("{provider}:{}", qualified(module, function))
            }
            Attach::Fexit {
                module,
                function,
                for_kprobe,
            } => {
                let provider = if *for_kprobe { "kretprobe" } else { "fexit" };
                format!("{provider}:{}", qualified(module, function))
            }
            Attach::Uprobe { path, symbol, .. } => format!("uprobe:{path}:{symbol}"),
            Attach::Uretprobe { path, symbol } => format!("uretprobe:{path}:{symbol}"),
            Attach::Interval { period_ns } => interval_name("interval", *period_ns),
            Attach::Profile { frequency } => format!("profile:hz:{frequency}"),
            Attach::Software { event, count, .. } => format!("software:{event}:{count}"),
            Attach::Signal { name, .. } => format!("self:signal:{name}"),
        }
    }

    /// The traced function's name, for `func`.
    pub fn function(&self) -> Option<&str> {
        match self {
            Attach::Kprobe { function, .. }
            | Attach::Kretprobe { function, .. }
            | Attach::Fentry { function, .. }
            | Attach::Fexit { function, .. } => Some(function),
            Attach::Uprobe { symbol, .. } | Attach::Uretprobe { symbol, .. } => Some(symbol),
            _ => None,
        }
    }
}

impl Attach {
    /// The kernel function as the kernel looks it up: `MODULE:FN` when the script names the
    /// module, else `FN`.
    pub fn kernel_symbol(&self) -> Option<String> {
        match self {
            Attach::Kprobe {
                module, function, ..
            }
            | Attach::Kretprobe { module, function } => Some(qualified(module, function)),
            _ => None,
        }
    }
}

/// `MODULE:FUNCTION`, or `FUNCTION` for vmlinux.
pub fn qualified(module: &Option<String>, function: &str) -> String {
    match module {
        Some(m) => format!("{m}:{function}"),
        None => function.to_string(),
    }
}

fn interval_name(provider: &str, ns: u64) -> String {
    match ns {
        n if n % 1_000_000_000 == 0 => format!("{provider}:s:{}", n / 1_000_000_000),
        n if n % 1_000_000 == 0 => format!("{provider}:ms:{}", n / 1_000_000),
        n if n % 1_000 == 0 => format!("{provider}:us:{}", n / 1_000),
        n => format!("{provider}:ns:{n}"),
    }
}

/// How a provider turns a probe's parts into attach points; the error is for the user.
pub type Expand = fn(parts: &[String], kernel: &dyn Kernel) -> Result<Vec<Attach>, ExpandError>;

/// Why a probe spec gives no attach points, as a message for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExpandError {
    /// What it names is not on this kernel (no such tracepoint, no BTF for the function):
    /// `missing_probes` decides whether that is an error.
    Missing(String),
    /// It is written wrong.
    Invalid(String),
}

impl From<String> for ExpandError {
    fn from(message: String) -> Self {
        ExpandError::Invalid(message)
    }
}

impl From<&str> for ExpandError {
    fn from(message: &str) -> Self {
        ExpandError::Invalid(message.into())
    }
}

/// A probe provider: `tracepoint`, `kprobe`, `interval`...
pub struct Provider {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub doc: &'static str,
    /// Turns the parts after the provider name into attach points, expanding wildcards.
    pub expand: Expand,
}

/// A builtin variable: `pid`, `comm`, `retval`...
pub struct Variable {
    pub name: &'static str,
    pub doc: &'static str,
    /// Where it may be used; empty means everywhere.
    pub allowed: &'static [ProbeClass],
    pub ty: Type,
    pub lower: fn(&mut Lowerer<'_, '_>) -> Val,
}

/// What kind of work a builtin function does; the compiler knows how to check and lower each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FunctionKind {
    Aggregation(AggKind),
    Printf,
    Print,
    Exit,
    Clear,
    Zero,
    Delete,
    /// `str(ptr[, len])`: read a NUL-terminated string.
    Str,
    /// `strncmp(a, b, n)`: 0 when the strings agree in their first `n` bytes, else 1.
    Strncmp,
    /// `strcontains(haystack, needle)`: whether the needle occurs in the haystack.
    Strcontains,
    /// `strstr(haystack, needle)`: the needle's first index in the haystack, or -1.
    Strstr,
    /// `strlen(s)`: bytes before the first NUL.
    Strlen,
    /// `has_key(@map, key)`: whether the map holds the key.
    HasKey,
    /// `bswap(n)`: the integer's bytes reversed, at its own width.
    Bswap,
    /// `time([format])`: user space prints the wall-clock time (strftime(3) format).
    Time,
    /// `cat(format, args...)`: user space prints the file the formatted path names.
    Cat,
    /// `system(format, args...)`: user space runs the formatted command (needs --unsafe).
    System,
    /// `signal(sig)`: sends a signal to the current process (needs --unsafe).
    Signal,
    /// One integer recorded as is and rendered in user space (`ksym(addr)`, `strerror(e)`).
    Render(Render),
    /// `ustack([mode][, limit])`, `kstack(...)`: the current stack, by id in the stack map.
    Stack {
        user: bool,
    },
    /// `nsecs([clock])`: a clock read (`boot`, `monotonic`, `tai`, `sw_tai`).
    Nsecs,
    /// `ntop([af, ]addr)`: an IPv4 or IPv6 address, printed in its usual text form.
    Ntop,
    /// `pton("1.2.3.4")`: the bytes of an address literal, a constant.
    Pton,
    /// `strftime(format, nsecs)`: a boot-time timestamp printed in a strftime(3) format.
    Strftime,
    /// `buf(ptr[, len])`: bytes printed with non-printable ones escaped.
    Buf,
    /// `len(@map)`: the number of keys of a map.
    Len,
    /// `warnf(format, args...)`, `errorf(...)`: a printf to stderr as a WARNING or ERROR line
    /// that names the call's place in the script.
    Log {
        error: bool,
    },
    /// `kaddr("symbol")`: a kernel symbol's address, resolved when the script is compiled.
    Kaddr,
    /// `join(argv[, sep])`: prints the strings of a NULL-ended array of pointers, joined.
    Join,
    /// `debugf(format, args...)`: bpf_trace_printk into the kernel's trace buffer (at most
    /// three arguments, as the helper takes).
    Debugf,
    /// `getopt(name[, default[, description]])`: a named program option given after `--`,
    /// a constant of the default's type.
    Getopt,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AggKind {
    Count,
    Sum,
    Avg,
    Min,
    Max,
    Stats,
    Hist,
    Lhist,
    /// `tseries(value, interval, intervals[, agg])`: one value per time interval, the last
    /// `intervals` of them kept.
    Tseries,
}

/// A builtin function: `printf`, `count`, `hist`...
pub struct Function {
    pub name: &'static str,
    /// The argument list as the user sees it, for docs and errors: `hist(value[, bits])`.
    pub signature: &'static str,
    pub doc: &'static str,
    pub kind: FunctionKind,
    /// Accepted argument counts.
    pub min_args: usize,
    pub max_args: usize,
}

/// Everything the compiler may name in a script.
pub struct Catalogue {
    pub providers: Vec<Provider>,
    pub variables: Vec<Variable>,
    pub functions: Vec<Function>,
}

impl Catalogue {
    pub fn provider(&self, name: &str) -> Option<&Provider> {
        self.providers
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name) || p.aliases.contains(&name))
    }

    /// A builtin variable by name; `__builtin_pid` is the same as `pid`, as in bpftrace.
    pub fn variable(&self, name: &str) -> Option<&Variable> {
        let name = name.strip_prefix("__builtin_").unwrap_or(name);
        self.variables.iter().find(|v| v.name == name)
    }

    pub fn function(&self, name: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.name == name)
    }
}
