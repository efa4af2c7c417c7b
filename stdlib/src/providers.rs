//! Probe providers: how each probe spec's parts become attach points.

use rbt_compiler::catalogue::{Attach, ExpandError, Provider};
use rbt_compiler::kernel::{Kernel, KernelFunction};
use rbt_compiler::syntax::literal;

pub fn all() -> Vec<Provider> {
    vec![
        Provider {
            name: "begin",
            aliases: &["BEGIN"],
            doc: "Runs once, before any other probe fires.",
            expand: |parts, _| Ok(no_parts("begin", parts).map(|()| vec![Attach::Begin])?),
        },
        Provider {
            name: "end",
            aliases: &["END"],
            doc: "Runs once, when the script ends, before the maps are printed.",
            expand: |parts, _| Ok(no_parts("end", parts).map(|()| vec![Attach::End])?),
        },
        Provider {
            name: "tracepoint",
            aliases: &["t"],
            doc: "A kernel tracepoint: tracepoint:CATEGORY:NAME (wildcards allowed), with `args`.",
            expand: tracepoint,
        },
        Provider {
            name: "kprobe",
            aliases: &["k"],
            doc: "Entry of a kernel function: kprobe:[MODULE:]FUNCTION[+OFFSET] (wildcards allowed), with arg0..arg5.",
            expand: |parts, kernel| {
                let found = kernel_functions("kprobe", parts, kernel)?;
                Ok(found
                    .into_iter()
                    .map(|(module, function, offset)| {
                        if fentry_stands_in(kernel, &module, &function, offset) {
                            Attach::Fentry {
                                module,
                                function,
                                for_kprobe: true,
                            }
                        } else {
                            Attach::Kprobe {
                                module,
                                function,
                                offset,
                            }
                        }
                    })
                    .collect())
            },
        },
        Provider {
            name: "kretprobe",
            aliases: &["kr"],
            doc: "Return of a kernel function: kretprobe:[MODULE:]FUNCTION (wildcards allowed), with retval.",
            expand: |parts, kernel| {
                let found = kernel_functions("kretprobe", parts, kernel)?;
                found
                    .into_iter()
                    .map(|(module, function, offset)| match offset {
                        _ if fentry_stands_in(kernel, &module, &function, offset) => {
                            Ok(Attach::Fexit {
                                module,
                                function,
                                for_kprobe: true,
                            })
                        }
                        0 => Ok(Attach::Kretprobe { module, function }),
                        _ => Err("a kretprobe cannot have an offset".into()),
                    })
                    .collect()
            },
        },
        Provider {
            name: "fentry",
            aliases: &["f", "kfunc"],
            doc: "Entry of a kernel function through BTF: fentry:[MODULE:]FUNCTION (wildcards allowed), with typed `args`.",
            expand: |parts, kernel| {
                let found = btf_functions("fentry", parts, kernel)?;
                Ok(found
                    .into_iter()
                    .map(|(module, function)| Attach::Fentry {
                        module,
                        function,
                        for_kprobe: false,
                    })
                    .collect())
            },
        },
        Provider {
            name: "fexit",
            aliases: &["fr", "kretfunc"],
            doc: "Return of a kernel function through BTF: fexit:[MODULE:]FUNCTION (wildcards allowed), with typed `args` and `retval`.",
            expand: |parts, kernel| {
                let found = btf_functions("fexit", parts, kernel)?;
                Ok(found
                    .into_iter()
                    .map(|(module, function)| Attach::Fexit {
                        module,
                        function,
                        for_kprobe: false,
                    })
                    .collect())
            },
        },
        Provider {
            name: "uprobe",
            aliases: &["u"],
            doc: "Entry of a user function: uprobe:BINARY:SYMBOL, with arg0..arg5.",
            expand: |parts, _| {
                let (path, symbol) = user_function("uprobe", parts)?;
                Ok(vec![Attach::Uprobe {
                    path,
                    symbol,
                    offset: 0,
                }])
            },
        },
        Provider {
            name: "uretprobe",
            aliases: &["ur"],
            doc: "Return of a user function: uretprobe:BINARY:SYMBOL, with retval.",
            expand: |parts, _| {
                let (path, symbol) = user_function("uretprobe", parts)?;
                Ok(vec![Attach::Uretprobe { path, symbol }])
            },
        },
        Provider {
            name: "interval",
            aliases: &["i"],
            doc: "A timer on one CPU: interval:s:N, interval:ms:N, interval:us:N, interval:hz:N.",
            expand: |parts, _| {
                let period_ns = period("interval", parts)?;
                Ok(vec![Attach::Interval { period_ns }])
            },
        },
        Provider {
            name: "profile",
            aliases: &["p"],
            doc: "A timer on every CPU: profile:hz:N (or s, ms, us).",
            expand: |parts, _| {
                let period_ns = period("profile", parts)?;
                Ok(vec![Attach::Profile {
                    frequency: (1_000_000_000 / period_ns).max(1),
                }])
            },
        },
        Provider {
            name: "software",
            aliases: &["s"],
            doc: "A perf software event on every CPU, once every COUNT: software:EVENT[:COUNT] (cpu-clock, page-faults, context-switches...).",
            expand: |parts, kernel| Ok(software(parts, kernel)?),
        },
        Provider {
            name: "self",
            aliases: &[],
            doc: "Runs when rbt itself receives a signal: self:signal:SIGUSR1.",
            expand: |parts, _| match parts {
                // rbt itself stops on SIGINT and SIGTERM: only the user signals are free.
                [kind, name] if kind == "signal" => match name.as_str() {
                    "SIGUSR1" | "SIGUSR2" => Ok(vec![Attach::Signal {
                        name: name.clone(),
                        number: rbt_compiler::sema::signal_number(name.as_bytes())
                            .unwrap_or_else(|| panic!("bug: {name} has no number"))
                            as i32,
                    }]),
                    _ => Err(format!("self:signal takes SIGUSR1 or SIGUSR2, not `{name}`").into()),
                },
                _ => Err("write self:signal:SIGNAL, e.g. self:signal:SIGUSR1".into()),
            },
        },
    ]
}

/// The perf software events: names and aliases, PERF_COUNT_SW_* number, default count.
const SOFTWARE_EVENTS: &[(&str, &str, u64, u64)] = &[
    ("cpu-clock", "cpu", 0, 1_000_000),
    ("task-clock", "", 1, 1_000_000),
    ("page-faults", "faults", 2, 100),
    ("context-switches", "cs", 3, 1_000),
    ("cpu-migrations", "", 4, 1),
    ("minor-faults", "", 5, 100),
    ("major-faults", "", 6, 1),
    ("alignment-faults", "", 7, 1),
    ("emulation-faults", "", 8, 1),
    ("dummy", "", 9, 1),
    ("bpf-output", "", 10, 1),
];

fn software(parts: &[String], _: &dyn Kernel) -> Result<Vec<Attach>, String> {
    let (event, count) = match parts {
        [event] => (event, None),
        [event, count] if count.is_empty() => (event, None),
        [event, count] => (event, Some(count)),
        _ => return Err("a software probe is written software:EVENT[:COUNT]".into()),
    };
    let Some(&(_, _, config, default)) = SOFTWARE_EVENTS
        .iter()
        .find(|(name, alias, ..)| name == event || (!alias.is_empty() && alias == event))
    else {
        let names: Vec<&str> = SOFTWARE_EVENTS.iter().map(|e| e.0).collect();
        return Err(format!(
            "unknown software event `{event}` (known: {})",
            names.join(", ")
        ));
    };
    let count = match count {
        None => default,
        Some(c) => parse_int(c).filter(|n| *n > 0).ok_or_else(|| {
            format!("the count of a software probe is a number above 0, not `{c}`")
        })?,
    };
    Ok(vec![Attach::Software {
        event: event.clone(),
        config,
        count,
    }])
}

fn no_parts(name: &str, parts: &[String]) -> Result<(), String> {
    if parts.is_empty() {
        Ok(())
    } else {
        Err(format!("`{name}` takes no arguments"))
    }
}

fn tracepoint(parts: &[String], kernel: &dyn Kernel) -> Result<Vec<Attach>, ExpandError> {
    let [category, name] = parts else {
        return Err("a tracepoint is written tracepoint:CATEGORY:NAME".into());
    };
    let wildcard = |s: &str| s.contains(['*', '?']);
    if !wildcard(category) && !wildcard(name) && kernel.tracepoint_fields(category, name).is_some()
    {
        // A plain name: no need to list every tracepoint.
        return Ok(vec![Attach::Tracepoint {
            category: category.clone(),
            name: name.clone(),
        }]);
    }
    let all = kernel.tracepoints();
    let found: Vec<Attach> = all
        .iter()
        .filter(|(c, n)| glob(category, c) && glob(name, n))
        .map(|(c, n)| Attach::Tracepoint {
            category: c.clone(),
            name: n.clone(),
        })
        .collect();
    if found.is_empty() && !category.contains(['*', '?']) && !name.contains(['*', '?']) {
        let mut message = format!("tracepoint {category}:{name} does not exist");
        let names = all
            .iter()
            .filter(|(c, _)| c == category)
            .map(|(_, n)| n.as_str());
        if let Some(close) = rbt_compiler::diag::closest(name, names) {
            message.push_str(&format!(" (did you mean {category}:{close}?)"));
        }
        return Err(ExpandError::Missing(message));
    }
    Ok(found)
}

/// What `PROVIDER:[MODULE:]FUNCTION[+OFFSET]` names, wildcards expanded: (the module when the
/// script names one, the function, the offset).
type KernelTarget = (Option<String>, String, u64);

fn kernel_functions(
    provider: &str,
    parts: &[String],
    kernel: &dyn Kernel,
) -> Result<Vec<KernelTarget>, String> {
    let (module, spec) = match parts {
        [f] => (None, f),
        [m, f] => (Some(m.as_str()), f),
        _ => {
            return Err(format!(
                "a {provider} is written {provider}:FUNCTION or {provider}:MODULE:FUNCTION"
            ));
        }
    };
    let (function, offset) = match spec.split_once('+') {
        None => (spec.as_str(), 0),
        Some((f, off)) => (
            f,
            parse_int(off).ok_or_else(|| format!("bad offset `{off}`"))?,
        ),
    };
    // Built-in functions belong to `vmlinux`, as in bpftrace.
    let module_of = |f: &KernelFunction| f.module.clone().unwrap_or_else(|| VMLINUX.into());
    let named_module = |f: &KernelFunction| match module {
        Some(VMLINUX) | None => None,
        Some(_) => f.module.clone(),
    };
    let in_module = |f: &KernelFunction| module.is_none_or(|m| glob(m, &module_of(f)));
    if is_wildcard(function) || module.is_some_and(is_wildcard) {
        if offset != 0 {
            return Err(format!("a wildcard {provider} cannot have an offset"));
        }
        return Ok(kernel
            .kernel_functions()
            .iter()
            .filter(|f| in_module(f) && glob(function, &f.name))
            .map(|f| (named_module(f), f.name.clone(), 0))
            .collect());
    }
    // A plain name is not looked up: listing the kernel's functions costs more than starting
    // up, and when the function is missing the attach says so, with close names.
    let module = module.filter(|m| *m != VMLINUX).map(str::to_string);
    Ok(vec![(module, function.to_string(), offset)])
}

/// Whether fentry (fexit) takes the place of a kprobe (kretprobe): when the kernel cannot
/// attach kprobes and has BTF for the function; a kprobe at an offset cannot move.
fn fentry_stands_in(
    kernel: &dyn Kernel,
    module: &Option<String>,
    function: &str,
    offset: u64,
) -> bool {
    let module = module.as_deref().unwrap_or(VMLINUX);
    !kernel.has_kprobes() && offset == 0 && kernel.function_proto(Some(module), function).is_some()
}

/// What `fentry:[MODULE:]FUNCTION` names: (the module whose BTF describes it, None for
/// vmlinux; the function), for functions the kernel has BTF for (a wildcard skips the others).
fn btf_functions(
    provider: &str,
    parts: &[String],
    kernel: &dyn Kernel,
) -> Result<Vec<(Option<String>, String)>, ExpandError> {
    let (module, function) = match parts {
        [f] if !f.contains('+') => (None, f),
        [m, f] if !f.contains('+') => (Some(m.as_str()), f),
        _ => {
            return Err(format!("a {provider} is written {provider}:[MODULE:]FUNCTION").into());
        }
    };
    let vmlinux_as_none = |m: Option<String>| m.filter(|m| m != VMLINUX);
    if !is_wildcard(function) && !module.is_some_and(is_wildcard) {
        let Some(proto) = kernel.function_proto(module, function) else {
            let mut message = match module {
                Some(m) if m != VMLINUX => format!(
                    "module `{m}` has no BTF for a function `{function}`, which {provider} needs"
                ),
                _ => format!(
                    "the kernel has no BTF for a function `{function}`, which {provider} needs"
                ),
            };
            let names = kernel
                .kernel_functions()
                .iter()
                .filter(|f| module.is_none_or(|m| f.module.as_deref().unwrap_or(VMLINUX) == m))
                .map(|f| f.name.as_str());
            let close = rbt_compiler::diag::closest_few(function, names, 3);
            if !close.is_empty() {
                message.push_str(&format!(" (did you mean {}?)", close.join(", ")));
            }
            return Err(ExpandError::Missing(message));
        };
        return Ok(vec![(vmlinux_as_none(proto.module), function.clone())]);
    }
    let module_of = |f: &KernelFunction| f.module.clone().unwrap_or_else(|| VMLINUX.into());
    Ok(kernel
        .kernel_functions()
        .iter()
        .filter(|f| module.is_none_or(|m| glob(m, &module_of(f))) && glob(function, &f.name))
        .filter(|f| {
            kernel
                .function_proto(Some(&module_of(f)), &f.name)
                .is_some()
        })
        .map(|f| (f.module.clone(), f.name.clone()))
        .collect())
}

const VMLINUX: &str = "vmlinux";

fn is_wildcard(s: &str) -> bool {
    s.contains(['*', '?'])
}

fn user_function(provider: &str, parts: &[String]) -> Result<(String, String), String> {
    match parts {
        [path, symbol] if !path.is_empty() && !symbol.is_empty() => {
            Ok((path.clone(), symbol.clone()))
        }
        _ => Err(format!("a {provider} is written {provider}:BINARY:SYMBOL")),
    }
}

/// The period of `interval`/`profile` probes in nanoseconds: `interval:ms:100`, `interval:hz:99`,
/// or one duration (`interval:100ms`; a bare number is nanoseconds, at least 1000 as in bpftrace).
fn period(provider: &str, parts: &[String]) -> Result<u64, String> {
    let usage = || {
        format!(
            "write {provider}:s:N, {provider}:ms:N, {provider}:us:N, {provider}:hz:N \
             or a duration such as {provider}:100ms"
        )
    };
    match parts {
        [one] => match parse_int(one) {
            Some(ns) if ns >= 1000 => Ok(ns),
            Some(ns) => Err(format!(
                "the period of a {provider} probe is at least 1000 nanoseconds (1us), not {ns}"
            )),
            None => Err(usage()),
        },
        [unit, count] => {
            let n = parse_int(count).filter(|n| *n > 0).ok_or_else(usage)?;
            let ns = match (unit.as_str(), literal::duration_unit(unit)) {
                ("hz", _) => 1_000_000_000 / n,
                ("s" | "ms" | "us", Some(unit_ns)) => n.checked_mul(unit_ns).ok_or_else(usage)?,
                _ => return Err(usage()),
            };
            Ok(ns.max(1))
        }
        _ => Err(usage()),
    }
}

/// A number in a probe part, read as bpftrace reads integer literals (`1e6`, `0x10`, `100ms`).
fn parse_int(s: &str) -> Option<u64> {
    literal::integer(s).ok()
}

/// Shell-style matching with `*` and `?`.
pub fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_like_a_shell() {
        assert!(glob("sys_enter_*", "sys_enter_openat"));
        assert!(glob("*open*", "sys_enter_openat"));
        assert!(!glob("sys_exit_*", "sys_enter_openat"));
        assert!(glob("sys_?nter_read", "sys_enter_read"));
    }

    #[test]
    fn periods_in_every_unit() {
        let p = |a: &str, b: &str| period("interval", &[a.into(), b.into()]);
        assert_eq!(p("s", "1"), Ok(1_000_000_000));
        assert_eq!(p("ms", "100"), Ok(100_000_000));
        assert_eq!(p("hz", "99"), Ok(10_101_010));
        assert!(p("weeks", "1").is_err());
        assert!(p("m", "1").is_err());
        let one = |a: &str| period("interval", &[a.into()]);
        assert_eq!(one("1s"), Ok(1_000_000_000));
        assert_eq!(one("100ms"), Ok(100_000_000));
        assert_eq!(one("2m"), Ok(120_000_000_000));
        assert_eq!(one("1000"), Ok(1000));
        assert!(one("999").is_err());
        assert!(one("1x").is_err());
    }
}
