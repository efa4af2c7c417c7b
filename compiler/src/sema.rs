//! Type checking: fixes the type of every expression, the key and value types of every map
//! (by its first use), and the layout of every event the programs send to user space.

use std::collections::HashMap;

use crate::ast::{self, BinOp, Expr, ExprKind, Span, Stmt, StmtKind, UnOp};
use crate::catalogue::{AggKind, Attach, Catalogue, FunctionKind, ProbeClass};
use crate::ctypes::CTypes;
use crate::diag::{self, Diagnostic};
use crate::kernel::{FieldKind, FunctionProto, Kernel, TracepointField};
use crate::types::{Render, StackMode, TseriesAgg, Type};

/// The value of a constant integer expression: a literal, maybe negated.
pub fn constant(e: &Expr) -> Option<i64> {
    match &e.kind {
        ExprKind::Int(v) => i64::try_from(*v).ok(),
        ExprKind::Unary {
            op: UnOp::Neg,
            expr,
        } => constant(expr).map(|v| v.wrapping_neg()),
        _ => None,
    }
}

/// The most repetitions `unroll` takes, as in bpftrace.
const MAX_UNROLL: i64 = 100;

/// Options that change what programs compute.
#[derive(Clone, Debug)]
pub struct Options {
    /// Bytes read by `str()` and kept for `__data_loc` strings.
    pub max_strlen: usize,
    /// Entries of a map whose size the script does not set.
    pub max_map_keys: u32,
    /// `-p`: probes other than begin/end fire only in this process.
    pub target_pid: Option<u32>,
    /// The positional parameters `$1`, `$2`... given after the program.
    pub positional: Vec<String>,
    /// `--unsafe`: functions that change the system (`system`, `signal`) may be used.
    pub allow_unsafe: bool,
    /// How `ustack` and `kstack` print when the script names no mode: set by the environment
    /// (BPFTRACE_STACK_MODE), else by the script's config, else bpftrace's.
    pub stack_mode: Option<StackMode>,
    /// The machine's possible CPUs: how many per-CPU slots an aggregation read merges.
    pub cpus: u32,
    /// The program's named options (`--name[=value]` after `--`), read by `getopt()`.
    pub named: Vec<(String, Option<String>)>,
    /// What becomes of a probe whose function, symbol or tracepoint this kernel or binary does
    /// not have (`config = { missing_probes = "warn" }`).
    pub missing_probes: MissingProbes,
    /// For tests, as bpftrace's BPFTRACE_DUMMY_TS_MAP: `tseries` reads its clock from this
    /// scalar map of unsigned integers (`@ts`) instead of the kernel's.
    pub dummy_ts_map: Option<String>,
}

/// bpftrace's `missing_probes` config: a probe naming what is not there is an error (the
/// default), or is skipped with a warning, or silently.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissingProbes {
    #[default]
    Error,
    Warn,
    Ignore,
}

impl MissingProbes {
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "error" => Some(MissingProbes::Error),
            "warn" => Some(MissingProbes::Warn),
            "ignore" => Some(MissingProbes::Ignore),
            _ => None,
        }
    }
}

/// The value of a `getopt()`: its default's kind, with the command line's value if given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Getopt {
    Int(i128),
    Bool(bool),
    Str(String),
}

impl Getopt {
    pub fn ty(&self) -> Type {
        match self {
            Getopt::Int(v) => Type::Int {
                bits: 64,
                signed: *v <= i64::MAX as i128,
            },
            Getopt::Bool(_) => Type::Bool,
            Getopt::Str(s) => Type::Str { len: s.len() + 1 },
        }
    }
}

/// What a positional parameter stands for: a number if it reads as one, else a string; a
/// missing one is 0, as in bpftrace (`$0` is 0 too).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Positional {
    Int(i64),
    Str(String),
}

impl Options {
    /// The text of positional parameter `n` ("" when missing).
    pub fn positional_text(&self, n: u32) -> &str {
        (n as usize)
            .checked_sub(1)
            .and_then(|i| self.positional.get(i))
            .map_or("", String::as_str)
    }

    pub fn positional_value(&self, n: u32) -> Positional {
        let Some(text) = (n as usize)
            .checked_sub(1)
            .and_then(|i| self.positional.get(i))
        else {
            return Positional::Int(0);
        };
        let number = match text.strip_prefix("0x") {
            Some(hex) => i64::from_str_radix(hex, 16).ok(),
            None if text.len() > 1 && text.starts_with('0') => {
                i64::from_str_radix(&text[1..], 8).ok()
            }
            None => text.parse().ok(),
        };
        match number {
            Some(v) => Positional::Int(v),
            None => Positional::Str(text.clone()),
        }
    }
}

impl Options {
    /// `getopt(name, default)`: the command line's value for `--name`, read as the default's
    /// kind; a bare `--name` is `true`. The error names what the value should have been.
    pub fn getopt(&self, name: &str, default: Getopt) -> Result<Getopt, &'static str> {
        let Some((_, given)) = self.named.iter().rev().find(|(n, _)| n == name) else {
            return Ok(default);
        };
        let Some(text) = given else {
            return match default {
                Getopt::Bool(_) => Ok(Getopt::Bool(true)),
                _ => Err(match default {
                    Getopt::Int(_) => "integer",
                    _ => "string",
                }),
            };
        };
        match default {
            Getopt::Str(_) => Ok(Getopt::Str(text.clone())),
            Getopt::Bool(_) => match text.to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(Getopt::Bool(true)),
                "false" | "0" => Ok(Getopt::Bool(false)),
                _ => Err("boolean"),
            },
            Getopt::Int(_) => {
                let (negative, digits) = match text.strip_prefix('-') {
                    Some(rest) => (true, rest),
                    None => (false, text.as_str()),
                };
                let magnitude = match digits.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(hex, 16).ok(),
                    None => digits.parse::<u64>().ok(),
                };
                match magnitude {
                    Some(m) if !negative => Ok(Getopt::Int(i128::from(m))),
                    Some(m) if m <= 1 << 63 => Ok(Getopt::Int(-i128::from(m))),
                    _ => Err("integer"),
                }
            }
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_strlen: 1024,
            max_map_keys: 4096,
            target_pid: None,
            positional: Vec::new(),
            allow_unsafe: false,
            stack_mode: None,
            cpus: 64,
            named: Vec::new(),
            missing_probes: MissingProbes::Error,
            dummy_ts_map: None,
        }
    }
}

/// What a map holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapValue {
    /// Assigned values: `@x = 5`, `@x[k] = comm`.
    Plain(Type),
    /// An aggregation; `signed` tells how to read sums, minima and maxima.
    Agg {
        kind: AggKind,
        signed: bool,
        params: AggParams,
    },
}

/// The constant arguments of `hist`, `lhist` and `tseries`, fixed per map.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AggParams {
    pub hist_bits: u8,
    pub lhist_min: i64,
    pub lhist_max: i64,
    pub lhist_step: i64,
    /// tseries: nanoseconds per interval, intervals kept, how one interval's values combine.
    pub tseries_interval_ns: u64,
    pub tseries_intervals: u64,
    pub tseries_agg: TseriesAgg,
}

/// The most intervals a `tseries` keeps, as in bpftrace.
pub const MAX_TSERIES_INTERVALS: u64 = 1_000_000;

/// One map of the script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapInfo {
    /// As written, with its `@`.
    pub name: String,
    /// None for a map used without keys.
    pub key: Option<Type>,
    pub value: MapValue,
    pub first_use: Span,
}

/// What a program can ask user space to do, through the ring buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Printf {
        format: String,
        args: Vec<Type>,
    },
    Exit,
    PrintMap {
        map: usize,
        top: u64,
        div: u64,
    },
    PrintValue {
        ty: Type,
    },
    Clear {
        map: usize,
    },
    Zero {
        map: usize,
    },
    /// `warnf`/`errorf`: a formatted WARNING or ERROR line on stderr, at the call's place.
    Log {
        error: bool,
        format: String,
        args: Vec<Type>,
        at: Span,
        /// The macro calls the call was expanded from, innermost first.
        expanded_from: Vec<Span>,
    },
    /// `join(argv, sep)`: print up to `JOIN_ARGS` strings, joined by `sep`.
    Join {
        sep: String,
    },
    /// `time(format)`: print the wall-clock time.
    Time {
        format: String,
    },
    /// `cat(format, args...)`: print the file the formatted path names.
    Cat {
        format: String,
        args: Vec<Type>,
    },
    /// `system(format, args...)`: run the formatted command, print what it prints.
    System {
        format: String,
        args: Vec<Type>,
    },
}

impl Event {
    /// Bytes of the record after its 8-byte event id.
    pub fn payload_types(&self) -> Vec<Type> {
        match self {
            Event::Printf { args, .. }
            | Event::Cat { args, .. }
            | Event::System { args, .. }
            | Event::Log { args, .. } => args.clone(),
            Event::PrintValue { ty } => vec![ty.clone()],
            Event::Join { .. } => vec![
                Type::Str {
                    len: JOIN_ARG_BYTES
                };
                JOIN_ARGS
            ],
            Event::Exit => vec![Type::I64],
            _ => vec![],
        }
    }
}

/// Types of one program's expressions, keyed by node address (the AST does not move between
/// checking and lowering).
#[derive(Default, Debug)]
pub struct Types {
    exprs: HashMap<usize, Type>,
    pub vars: HashMap<String, Type>,
    /// Variables whose address is taken (`&$x`): they live in memory, not in a register.
    pub addressed: std::collections::HashSet<String>,
    /// The event index of each `printf`/`exit`/`print`... call, keyed like `exprs`.
    events: HashMap<usize, usize>,
    /// Expressions whose value sema knows: `sizeof`, `offsetof`, enum values and defines.
    constants: HashMap<usize, i64>,
}

impl Types {
    pub fn of(&self, e: &Expr) -> &Type {
        self.exprs
            .get(&key(e))
            .unwrap_or_else(|| panic!("bug: expression at {:?} was not typed", e.span))
    }

    pub fn event(&self, e: &Expr) -> usize {
        self.events[&key(e)]
    }

    pub fn constant(&self, e: &Expr) -> Option<i64> {
        self.constants.get(&key(e)).copied()
    }
}

fn key(e: &Expr) -> usize {
    e as *const Expr as usize
}

/// The script-wide tables that checking builds.
#[derive(Default, Debug)]
pub struct Tables {
    pub maps: Vec<MapInfo>,
    pub events: Vec<Event>,
    /// `let @m = hash(N);` declarations, by map name.
    pub declared: std::collections::HashMap<String, crate::ast::MapDecl>,
    /// C types by name: the script's definitions, and what the kernel was asked for.
    pub ctypes: CTypes,
    /// Whether any program records stacks (the stack-trace map is sized for them).
    pub stacks: bool,
    /// The formats of `strftime` calls, indexed by `Render::Time`.
    pub time_formats: Vec<String>,
    /// The kernel symbols `kaddr` resolved, by name.
    pub kaddrs: HashMap<String, u64>,
    /// Whether a program writes to the kernel's trace buffer (`debugf`).
    pub trace_printk: bool,
    /// The names `getopt()` reads, in order of first use: the program's named options.
    pub getopts: Vec<String>,
}

/// The name and default of `getopt("name"[, default[, "description"]])`, or the argument that
/// is not the literal it should be.
pub fn getopt_args(args: &[Expr]) -> Result<(String, Getopt), (Span, &'static str)> {
    let name = match &args[0].kind {
        ExprKind::Str(n) => String::from_utf8_lossy(n).into_owned(),
        _ => {
            return Err((
                args[0].span.clone(),
                "the option's name as a string literal",
            ));
        }
    };
    if let Some(d) = args.get(2)
        && !matches!(d.kind, ExprKind::Str(_))
    {
        return Err((d.span.clone(), "a description as a string literal"));
    }
    let not_literal = |a: &Expr| {
        (
            a.span.clone(),
            "a default that is an integer, boolean or string literal",
        )
    };
    let default = match args.get(1).map(|a| (a, &a.kind)) {
        None => Getopt::Bool(false),
        Some((_, ExprKind::Bool(b))) => Getopt::Bool(*b),
        Some((_, ExprKind::Str(s))) => Getopt::Str(String::from_utf8_lossy(s).into_owned()),
        Some((_, ExprKind::Int(v))) => Getopt::Int(i128::from(*v)),
        Some((
            a,
            ExprKind::Unary {
                op: UnOp::Neg,
                expr,
            },
        )) => match expr.kind {
            ExprKind::Int(v) => Getopt::Int(-i128::from(v)),
            _ => return Err(not_literal(a)),
        },
        Some((a, _)) => return Err(not_literal(a)),
    };
    Ok((name, default))
}

fn article(kind: &str) -> String {
    match kind {
        "integer" => "an integer".into(),
        other => format!("a {other}"),
    }
}

impl Tables {
    pub fn map_index(&self, name: &str) -> Option<usize> {
        self.maps.iter().position(|m| m.name == name)
    }
}

pub struct Checker<'a> {
    pub catalogue: &'a Catalogue,
    pub kernel: &'a dyn Kernel,
    pub options: &'a Options,
    pub tables: Tables,
    pub diagnostics: Vec<Diagnostic>,
    tracepoint_cache: HashMap<(String, String), Option<Vec<TracepointField>>>,
    proto_cache: HashMap<String, Option<FunctionProto>>,
    /// The macro calls whose expanded bodies enclose what is being checked, outermost first.
    macro_calls: Vec<ast::MacroCall>,
    /// Set while the expression before `.field` is checked: `args` there stays `Type::Args`,
    /// whose fields are read one by one, rather than the record of all of them.
    field_base: bool,
}

/// The probe a program is being checked for.
struct Ctx<'p> {
    attach: &'p Attach,
    types: Types,
    /// How many loops enclose the statement being checked (`break` and `continue` need one).
    loops: u32,
}

impl<'a> Checker<'a> {
    pub fn new(catalogue: &'a Catalogue, kernel: &'a dyn Kernel, options: &'a Options) -> Self {
        Checker {
            catalogue,
            kernel,
            options,
            tables: Tables::default(),
            diagnostics: Vec::new(),
            tracepoint_cache: HashMap::new(),
            proto_cache: HashMap::new(),
            field_base: false,
            macro_calls: Vec::new(),
        }
    }

    /// Checks one action as the program of one attach point.
    pub fn check_action(&mut self, action: &ast::Action, attach: &Attach) -> Types {
        let mut cx = Ctx {
            attach,
            types: Types::default(),
            loops: 0,
        };
        if let Some(pred) = &action.predicate {
            let t = self.expr(&mut cx, pred);
            self.expect_int(&t, pred, "a predicate");
        }
        self.block(&mut cx, &action.body);
        cx.types
    }

    fn error(&mut self, mut d: Diagnostic) {
        // In a macro's body: which calls it was expanded from, innermost first.
        for call in self.macro_calls.iter().rev() {
            d = d.with_secondary(
                call.span.clone(),
                format!("in this call of macro `{}`", call.name),
            );
        }
        if !self.diagnostics.contains(&d) {
            self.diagnostics.push(d);
        }
    }

    fn block(&mut self, cx: &mut Ctx, block: &ast::Block) {
        for stmt in &block.stmts {
            self.stmt(cx, stmt);
        }
    }

    fn stmt(&mut self, cx: &mut Ctx, stmt: &Stmt) {
        match &stmt.kind {
            StmtKind::Expr(e) => {
                self.expr(cx, e);
            }
            StmtKind::If { cond, then, els } => {
                let t = self.expr(cx, cond);
                self.expect_int(&t, cond, "a condition");
                self.block(cx, then);
                if let Some(els) = els {
                    self.block(cx, els);
                }
            }
            StmtKind::Assign { target, op, value } => self.assign(cx, target, *op, value),
            StmtKind::Let { name, value } => {
                if let Some(value) = value {
                    let value_ty = self.expr(cx, value);
                    self.assign_var(cx, name, value_ty, value, None);
                }
            }
            StmtKind::Return(value) => {
                if let Some(value) = value {
                    self.expr(cx, value);
                }
            }
            StmtKind::While { cond, body } => {
                let t = self.expr(cx, cond);
                self.expect_int(&t, cond, "a condition");
                self.loop_body(cx, body);
            }
            StmtKind::Unroll { count, body } => {
                self.unroll_count(count);
                self.block(cx, body);
            }
            StmtKind::For {
                var, iter, body, ..
            } => {
                let var_ty = match iter {
                    ast::ForIter::Range { start, end } => {
                        for e in [start, end] {
                            let t = self.expr(cx, e);
                            self.expect_int(&t, e, "a range bound");
                        }
                        Type::I64
                    }
                    ast::ForIter::Map(map) => self.for_map_element(cx, map),
                };
                // The loop variable exists only in the body, with a type of its own.
                let outer = cx.types.vars.insert(var.clone(), var_ty);
                self.loop_body(cx, body);
                match outer {
                    Some(ty) => cx.types.vars.insert(var.clone(), ty),
                    None => cx.types.vars.remove(var),
                };
            }
            StmtKind::Break | StmtKind::Continue if cx.loops == 0 => {
                let word = if matches!(stmt.kind, StmtKind::Break) {
                    "break"
                } else {
                    "continue"
                };
                self.error(
                    Diagnostic::error(
                        "E0371",
                        format!("`{word}` is only allowed inside a loop"),
                        stmt.span.clone(),
                    )
                    .with_label("not in a loop"),
                );
            }
            StmtKind::Break | StmtKind::Continue => {}
        }
    }

    fn loop_body(&mut self, cx: &mut Ctx, body: &ast::Block) {
        cx.loops += 1;
        self.block(cx, body);
        cx.loops -= 1;
    }

    /// `tuple.N`: the type of the N-th element.
    fn tuple_field(&mut self, items: &[Type], field: &str, span: &Span) -> Type {
        match field.parse::<usize>().ok().and_then(|i| items.get(i)) {
            Some(t) => t.clone(),
            None => {
                self.error(
                    Diagnostic::error(
                        "E0375",
                        format!(
                            "a tuple of {} elements has no element `{field}`",
                            items.len()
                        ),
                        span.clone(),
                    )
                    .with_label(format!(
                        "elements are 0 to {}",
                        items.len().saturating_sub(1)
                    )),
                );
                Type::I64
            }
        }
    }

    /// `unroll (N)`: N is a constant (a literal or a positional parameter) from 1 to 100.
    fn unroll_count(&mut self, count: &Expr) {
        let value = match &count.kind {
            ExprKind::Positional(n) => match self.options.positional_value(*n) {
                Positional::Int(v) => Some(v),
                Positional::Str(_) => None,
            },
            _ => self.constant(count),
        };
        let problem = match value {
            None => "unroll takes an integer literal or a positional parameter",
            Some(v) if v < 1 => "unroll minimum value is 1",
            Some(v) if v > MAX_UNROLL => "unroll maximum value is 100",
            Some(_) => return,
        };
        self.error(
            Diagnostic::error("E0370", problem, count.span.clone())
                .with_label("the number of repetitions"),
        );
    }

    /// The type of `$kv` in `for ($kv : @map)`: `(key, value)`.
    fn for_map_element(&mut self, cx: &mut Ctx, map: &Expr) -> Type {
        let ExprKind::Map { name, keys } = &map.kind else {
            self.error(
                Diagnostic::error(
                    "E0372",
                    "a for loop runs over a map or a range `start..end`",
                    map.span.clone(),
                )
                .with_label("neither a map nor a range"),
            );
            return Type::I64;
        };
        if !keys.is_empty() {
            self.error(
                Diagnostic::error(
                    "E0372",
                    format!("a for loop runs over the whole map: write {name} without keys"),
                    map.span.clone(),
                )
                .with_label("a map element"),
            );
            return Type::I64;
        }
        self.record(cx, map, Type::Void);
        let Some(info) = self
            .tables
            .map_index(name)
            .map(|i| self.tables.maps[i].clone())
        else {
            self.error(
                Diagnostic::error(
                    "E0315",
                    format!("{name} is read before it is assigned"),
                    map.span.clone(),
                )
                .with_label("no value stored yet"),
            );
            return Type::I64;
        };
        let Some(key) = info.key else {
            self.error(
                Diagnostic::error(
                    "E0373",
                    format!("{name} has no keys: a for loop runs over maps with keys"),
                    map.span.clone(),
                )
                .with_label("a map without keys"),
            );
            return Type::I64;
        };
        match info.value {
            MapValue::Plain(value) => Type::Tuple(vec![key, value]),
            MapValue::Agg { kind, .. } => {
                self.error(Diagnostic::error(
                    "E0316",
                    format!(
                        "reading the {} aggregation {name} in a probe is not supported yet",
                        agg_name(kind)
                    ),
                    map.span.clone(),
                ));
                Type::I64
            }
        }
    }

    fn assign(&mut self, cx: &mut Ctx, target: &Expr, op: Option<BinOp>, value: &Expr) {
        // `@m = { statements; count() }`: the statements run, then the aggregation is assigned.
        if let ExprKind::Block {
            stmts,
            value: Some(tail),
            ..
        } = &value.kind
            && self.is_aggregation(tail)
        {
            for stmt in stmts {
                self.stmt(cx, stmt);
            }
            cx.types.exprs.insert(key(value), Type::Void);
            return self.assign(cx, target, op, tail);
        }
        // An aggregation call on the right: `@m[k] = count()`.
        if let ExprKind::Call { name, args, .. } = &value.kind
            && let Some(f) = self.catalogue.function(name)
            && let FunctionKind::Aggregation(kind) = f.kind
        {
            cx.types.exprs.insert(key(value), Type::Void);
            let ExprKind::Map { name: map, keys } = &target.kind else {
                return self.error(
                    Diagnostic::error(
                        "E0301",
                        format!("`{name}()` can only be assigned to a map"),
                        value.span.clone(),
                    )
                    .with_label("aggregation assigned to a variable"),
                );
            };
            if op.is_some() {
                return self.error(Diagnostic::error(
                    "E0302",
                    format!("`{name}()` cannot be combined with a compound assignment"),
                    value.span.clone(),
                ));
            }
            self.check_arity(f.min_args, f.max_args, f.signature, args, value);
            let mut signed = false;
            let mut params = AggParams::default();
            for (i, arg) in args.iter().enumerate() {
                let t = self.expr(cx, arg);
                if i == 0 {
                    signed = t.is_signed();
                }
                // tseries' fourth argument names a function.
                if !(kind == AggKind::Tseries && i == 3) {
                    self.expect_int(&t, arg, "an aggregation argument");
                }
            }
            match kind {
                AggKind::Hist => {
                    if let Some(bits) = args.get(1) {
                        match self.constant(bits) {
                            Some(b @ 0..=5) => params.hist_bits = b as u8,
                            _ => self.error(
                                Diagnostic::error(
                                    "E0303",
                                    "the second argument of `hist()` must be a constant from 0 to 5",
                                    bits.span.clone(),
                                )
                                .with_label("not a constant in 0..=5"),
                            ),
                        }
                    }
                }
                AggKind::Lhist if args.len() == 4 => {
                    let c: Vec<Option<i64>> = args[1..].iter().map(|a| self.constant(a)).collect();
                    match (c[0], c[1], c[2]) {
                        (Some(min), Some(max), Some(step)) if step > 0 && max > min => {
                            params.lhist_min = min;
                            params.lhist_max = max;
                            params.lhist_step = step;
                        }
                        _ => self.error(
                            Diagnostic::error(
                                "E0304",
                                "`lhist()` needs constant bounds with min < max and a step above 0",
                                args[1].span.start..args[3].span.end,
                            )
                            .with_help("write it as lhist(value, min, max, step), e.g. lhist($x, 0, 100, 10)"),
                        ),
                    }
                }
                AggKind::Tseries if args.len() >= 3 => self.tseries_params(&args[1..], &mut params),
                _ => {}
            }
            let key = self.map_key(cx, keys);
            self.fix_map(
                map,
                key,
                MapValue::Agg {
                    kind,
                    signed,
                    params,
                },
                target,
            );
            return;
        }

        let value_ty = self.expr(cx, value);
        if value_ty == Type::Void || value_ty == Type::Args {
            return self.error(
                Diagnostic::error(
                    "E0305",
                    "this expression has no value to assign",
                    value.span.clone(),
                )
                .with_label(format!("of type {value_ty}")),
            );
        }
        if op.is_some() {
            self.expect_int(&value_ty, value, "a compound assignment");
        }
        match &target.kind {
            ExprKind::Var(name) => {
                if let Some(ty) = self.assign_var(cx, name, value_ty, value, op) {
                    cx.types.exprs.insert(key(target), ty);
                }
            }
            ExprKind::Map { name, keys } => {
                let key_ty = self.map_key(cx, keys);
                let value_ty = if op.is_some() { Type::I64 } else { value_ty };
                if let Some(ty) = self.fix_map(name, key_ty, MapValue::Plain(value_ty), target) {
                    cx.types.exprs.insert(key(target), ty);
                }
            }
            _ => self.error(
                Diagnostic::error(
                    "E0307",
                    "only a map or a variable can be assigned to",
                    target.span.clone(),
                )
                .with_label("not assignable"),
            ),
        }
    }

    /// Whether `e` is a call of an aggregation (`count()`, `hist(x)`...).
    fn is_aggregation(&self, e: &Expr) -> bool {
        matches!(&e.kind, ExprKind::Call { name, .. }
            if self.catalogue.function(name)
                .is_some_and(|f| matches!(f.kind, FunctionKind::Aggregation(_))))
    }

    /// Fixes or widens a variable's type for an assignment of `value_ty`; None on a mismatch.
    fn assign_var(
        &mut self,
        cx: &mut Ctx,
        name: &str,
        value_ty: Type,
        value: &Expr,
        op: Option<BinOp>,
    ) -> Option<Type> {
        let ty = match cx.types.vars.get(name) {
            Some(old) if !old.accepts(&value_ty) => {
                self.error(
                    Diagnostic::error(
                        "E0306",
                        format!("type mismatch for ${name}: it holds {old}, not {value_ty}"),
                        value.span.clone(),
                    )
                    .with_label(format!("this is {value_ty}")),
                );
                return None;
            }
            Some(old) => old.widen(&value_ty),
            None if op.is_some() => Type::I64,
            None => value_ty,
        };
        cx.types.vars.insert(name.to_string(), ty.clone());
        Some(ty)
    }

    /// The key type of a map access: none, one key's type, or a tuple of several.
    fn map_key(&mut self, cx: &mut Ctx, keys: &[Expr]) -> Option<Type> {
        let types: Vec<Type> = keys.iter().map(|k| self.expr(cx, k)).collect();
        for (t, k) in types.iter().zip(keys) {
            if !matches!(
                t,
                Type::Int { .. }
                    | Type::Bool
                    | Type::Str { .. }
                    | Type::Tuple(_)
                    | Type::Ptr(_)
                    | Type::Enum(_)
                    | Type::Record(_)
                    | Type::Array { .. }
                    | Type::Buf { .. }
                    | Type::Rendered(_)
            ) {
                self.error(
                    Diagnostic::error(
                        "E0308",
                        format!("a value of type {t} cannot be a map key"),
                        k.span.clone(),
                    )
                    .with_label("used as a key here"),
                );
            }
        }
        match types.len() {
            0 => None,
            1 => types.into_iter().next(),
            _ => Some(Type::Tuple(types)),
        }
    }

    /// Fixes a map's types on first use and checks later uses against them. Returns the value
    /// type of a plain map.
    fn fix_map(
        &mut self,
        name: &str,
        key: Option<Type>,
        value: MapValue,
        at: &Expr,
    ) -> Option<Type> {
        let Some(i) = self.tables.map_index(name) else {
            let plain = match &value {
                MapValue::Plain(t) => Some(t.clone()),
                MapValue::Agg { .. } => None,
            };
            self.tables.maps.push(MapInfo {
                name: name.to_string(),
                key,
                value,
                first_use: at.span.clone(),
            });
            return plain;
        };
        let old = self.tables.maps[i].clone();
        let key_ok = match (&old.key, &key) {
            (None, None) => true,
            (Some(a), Some(b)) => a.accepts(b),
            _ => false,
        };
        if key_ok && let (Some(a), Some(b)) = (&old.key, &key) {
            self.tables.maps[i].key = Some(a.widen(b));
        }
        if !key_ok {
            let show = |k: &Option<Type>| {
                k.as_ref()
                    .map_or("no key".to_string(), |t| format!("key {t}"))
            };
            self.error(
                Diagnostic::error(
                    "E0309",
                    format!(
                        "{name} is used with {} here but with {} before",
                        show(&key),
                        show(&old.key)
                    ),
                    at.span.clone(),
                )
                .with_secondary(old.first_use.clone(), "first used here"),
            );
            return None;
        }
        match (&old.value, &value) {
            (MapValue::Plain(a), MapValue::Plain(b)) if a.accepts(b) => {
                let wide = a.widen(b);
                self.tables.maps[i].value = MapValue::Plain(wide.clone());
                Some(wide)
            }
            (
                MapValue::Agg {
                    kind: a,
                    params: pa,
                    ..
                },
                MapValue::Agg {
                    kind: b,
                    params: pb,
                    ..
                },
            ) if a == b && pa == pb => None,
            _ => {
                let show = |v: &MapValue| match v {
                    MapValue::Plain(t) => format!("values of type {t}"),
                    MapValue::Agg { kind, .. } => format!("a {} aggregation", agg_name(*kind)),
                };
                self.error(
                    Diagnostic::error(
                        "E0310",
                        format!(
                            "{name} holds {} but is given {} here",
                            show(&old.value),
                            show(&value)
                        ),
                        at.span.clone(),
                    )
                    .with_secondary(old.first_use.clone(), "its type was fixed here"),
                );
                None
            }
        }
    }

    /// tseries' constant arguments: the interval (a duration such as `100ms`, at least 1ns),
    /// the number of intervals kept (1 to 1000000) and, optionally, "avg", "max", "min" or "sum".
    fn tseries_params(&mut self, args: &[Expr], params: &mut AggParams) {
        match self.constant(&args[0]) {
            Some(ns) if ns >= 1 => params.tseries_interval_ns = ns as u64,
            _ => self.error(
                Diagnostic::error(
                    "E0376",
                    "the interval of `tseries()` must be a constant of 1 nanosecond or more",
                    args[0].span.clone(),
                )
                .with_help("write a duration, e.g. tseries($x, 100ms, 10)"),
            ),
        }
        match self.constant(&args[1]) {
            Some(n) if (1..=MAX_TSERIES_INTERVALS as i64).contains(&n) => {
                params.tseries_intervals = n as u64
            }
            _ => self.error(Diagnostic::error(
                "E0376",
                format!(
                    "the number of intervals of `tseries()` must be a constant from 1 to {MAX_TSERIES_INTERVALS}"
                ),
                args[1].span.clone(),
            )),
        }
        if let Some(agg) = args.get(2) {
            match self.constant_string(agg).and_then(|s| TseriesAgg::named(&s)) {
                Some(a) => params.tseries_agg = a,
                None => self.error(
                    Diagnostic::error(
                        "E0376",
                        "the last argument of `tseries()` is one of \"avg\", \"max\", \"min\" or \"sum\"",
                        agg.span.clone(),
                    )
                    .with_label("how the values of one interval combine"),
                ),
            }
        }
    }

    fn check_arity(&mut self, min: usize, max: usize, signature: &str, args: &[Expr], call: &Expr) {
        if args.len() < min || args.len() > max {
            self.error(
                Diagnostic::error(
                    "E0311",
                    format!("wrong number of arguments: expected {signature}"),
                    call.span.clone(),
                )
                .with_label(format!(
                    "given {} argument{}",
                    args.len(),
                    if args.len() == 1 { "" } else { "s" }
                )),
            );
        }
    }

    fn expect_int(&mut self, t: &Type, e: &Expr, what: &str) {
        if !t.is_int() {
            self.error(
                Diagnostic::error(
                    "E0312",
                    format!("{what} must be an integer"),
                    e.span.clone(),
                )
                .with_label(format!("this is {t}")),
            );
        }
    }

    /// The value of a constant integer expression.
    pub fn constant(&self, e: &Expr) -> Option<i64> {
        constant(e)
    }

    fn record(&mut self, cx: &mut Ctx, e: &Expr, t: Type) -> Type {
        cx.types.exprs.insert(key(e), t.clone());
        t
    }

    fn expr(&mut self, cx: &mut Ctx, e: &Expr) -> Type {
        let t = self.expr_inner(cx, e);
        self.record(cx, e, t)
    }

    fn expr_inner(&mut self, cx: &mut Ctx, e: &Expr) -> Type {
        match &e.kind {
            ExprKind::Int(v) => Type::Int {
                bits: 64,
                signed: *v <= i64::MAX as u64,
            },
            ExprKind::Bool(_) => Type::Bool,
            ExprKind::Str(bytes) => Type::Str {
                len: bytes.len() + 1,
            },
            ExprKind::Positional(n) => match self.options.positional_value(*n) {
                Positional::Int(_) => Type::I64,
                Positional::Str(s) => Type::Str { len: s.len() + 1 },
            },
            ExprKind::Ident(name) => self.ident(cx, name, e),
            // A variable read before any assignment is 0, as in bpftrace.
            ExprKind::Var(name) => cx.types.vars.get(name).cloned().unwrap_or(Type::I64),
            ExprKind::PositionalCount => Type::I64,
            ExprKind::Map { name, keys } => {
                let key_ty = self.map_key(cx, keys);
                match self.tables.map_index(name) {
                    None => {
                        let known: Vec<&str> =
                            self.tables.maps.iter().map(|m| m.name.as_str()).collect();
                        let mut d = Diagnostic::error(
                            "E0315",
                            format!("{name} is read before it is assigned"),
                            e.span.clone(),
                        )
                        .with_label("no value stored yet");
                        if let Some(c) = diag::closest(name, known) {
                            d = d.with_help(format!("did you mean {c}?"));
                        }
                        self.error(d);
                        Type::I64
                    }
                    Some(i) => match self.tables.maps[i].value.clone() {
                        MapValue::Plain(t) => {
                            self.fix_map(name, key_ty, MapValue::Plain(t.clone()), e);
                            t
                        }
                        MapValue::Agg {
                            kind:
                                kind @ (AggKind::Count
                                | AggKind::Sum
                                | AggKind::Min
                                | AggKind::Max
                                | AggKind::Avg),
                            signed,
                            params,
                        } => {
                            // Merged over the CPUs' values as the program runs.
                            let value = MapValue::Agg {
                                kind,
                                signed,
                                params,
                            };
                            self.fix_map(name, key_ty, value, e);
                            Type::Int {
                                bits: 64,
                                signed: signed && kind != AggKind::Count,
                            }
                        }
                        MapValue::Agg { kind, .. } => {
                            self.error(Diagnostic::error(
                                "E0316",
                                format!("reading the {} aggregation {name} in a probe is not supported yet", agg_name(kind)),
                                e.span.clone(),
                            ));
                            Type::I64
                        }
                    },
                }
            }
            ExprKind::Call {
                name,
                name_span,
                args,
            } => self.call(cx, e, name, name_span, args),
            ExprKind::Unary {
                op: UnOp::Deref,
                expr,
            } => {
                let t = self.expr(cx, expr);
                match t {
                    Type::Ptr(pointee) => self.pointee(&pointee, e),
                    _ => {
                        self.error(
                            Diagnostic::error(
                                "E0361",
                                format!("only a pointer can be dereferenced, not {t}"),
                                expr.span.clone(),
                            )
                            .with_label(format!("this is {t}")),
                        );
                        Type::I64
                    }
                }
            }
            ExprKind::Unary {
                op: UnOp::AddrOf,
                expr,
            } => {
                let ExprKind::Var(name) = &expr.kind else {
                    self.error(
                        Diagnostic::error(
                            "E0362",
                            "only a variable's address can be taken: &$name",
                            expr.span.clone(),
                        )
                        .with_label("not a variable"),
                    );
                    return Type::I64;
                };
                let t = self.expr(cx, expr);
                cx.types.addressed.insert(name.clone());
                crate::ctypes::pointer_to(t)
            }
            ExprKind::Unary { op, expr } => {
                let t = self.expr(cx, expr);
                self.expect_int(&t, expr, "an operand");
                match op {
                    UnOp::Not => Type::Bool,
                    UnOp::Neg => Type::I64,
                    UnOp::BitNot => match t {
                        Type::Enum(_) | Type::Ptr(_) => Type::U64,
                        t => t,
                    },
                    UnOp::Deref | UnOp::AddrOf => unreachable!("handled above"),
                }
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let a = self.expr(cx, lhs);
                let b = self.expr(cx, rhs);
                if matches!(op, BinOp::Eq | BinOp::Ne)
                    && matches!(
                        (&a, &b),
                        (Type::Str { .. }, Type::Str { .. }) | (Type::Buf { .. }, Type::Buf { .. })
                    )
                {
                    return Type::Bool;
                }
                self.expect_int(&a, lhs, "an operand");
                self.expect_int(&b, rhs, "an operand");
                if matches!(op, BinOp::Div | BinOp::Mod) && self.constant(rhs) == Some(0) {
                    self.error(
                        Diagnostic::error("E0317", "division by zero", rhs.span.clone())
                            .with_label("this divisor is zero"),
                    );
                }
                // C's rule for two 64-bit operands (unsigned wins), except that a literal takes
                // the signedness of the other side.
                let signed = match (self.constant(lhs).is_some(), self.constant(rhs).is_some()) {
                    (true, false) => b.is_signed(),
                    (false, true) => a.is_signed(),
                    _ => a.is_signed() && b.is_signed(),
                };
                match (op, &a, &b) {
                    (BinOp::Sub, Type::Ptr(p), Type::Ptr(_)) => {
                        self.pointee(p, e);
                        return Type::I64;
                    }
                    (BinOp::Add | BinOp::Sub, Type::Ptr(p), _) if !matches!(b, Type::Ptr(_)) => {
                        self.pointee(p, e);
                        return a.clone();
                    }
                    (BinOp::Add, _, Type::Ptr(p)) => {
                        self.pointee(p, e);
                        return b.clone();
                    }
                    _ => {}
                }
                match op {
                    BinOp::Eq
                    | BinOp::Ne
                    | BinOp::Lt
                    | BinOp::Le
                    | BinOp::Gt
                    | BinOp::Ge
                    | BinOp::And
                    | BinOp::Or => Type::Bool,
                    BinOp::Sub => Type::I64,
                    BinOp::Shl | BinOp::Shr => match a {
                        Type::Bool => Type::U64,
                        t => widen(t),
                    },
                    _ => Type::Int { bits: 64, signed },
                }
            }
            ExprKind::Ternary { cond, then, els } => {
                let c = self.expr(cx, cond);
                self.expect_int(&c, cond, "a condition");
                let a = self.expr(cx, then);
                let b = self.expr(cx, els);
                match (&a, &b) {
                    (Type::Bool, Type::Bool) => Type::Bool,
                    (x, y) if x.is_int() && y.is_int() => Type::Int {
                        bits: 64,
                        signed: x.is_signed() || y.is_signed(),
                    },
                    (Type::Str { len: x }, Type::Str { len: y }) => Type::Str { len: *x.max(y) },
                    (Type::Buf { len: x }, Type::Buf { len: y }) => Type::Buf { len: *x.max(y) },
                    (Type::Rendered(x), Type::Rendered(y)) if x == y => a.clone(),
                    _ => {
                        self.error(
                            Diagnostic::error(
                                "E0318",
                                format!("the two branches differ: {a} and {b}"),
                                e.span.clone(),
                            )
                            .with_secondary(then.span.clone(), format!("{a}"))
                            .with_secondary(els.span.clone(), format!("{b}")),
                        );
                        a
                    }
                }
            }
            ExprKind::Cast { ty, ty_span, expr } => {
                let t = self.expr(cx, expr);
                let target = match self.tables.ctypes.resolve(ty, self.kernel) {
                    Ok(target) => target,
                    Err(message) => {
                        self.error(
                            Diagnostic::error("E0360", message, ty_span.clone())
                                .with_label("not a type rbt knows"),
                        );
                        return Type::I64;
                    }
                };
                match (&target, &t) {
                    // Bytes seen as an array: `(int8[])12345`, `(uint8[4])"abc"`.
                    (Type::Array { elem, len }, from)
                        if from.is_int()
                            || matches!(from, Type::Str { .. } | Type::Array { .. }) =>
                    {
                        let from_size = if from.is_int() { 8 } else { from.c_size() };
                        let elem_size = elem.c_size().max(1);
                        let len = if *len == 0 {
                            from_size / elem_size
                        } else {
                            *len
                        };
                        if len * elem_size != from_size || !elem.is_int() {
                            self.error(
                                Diagnostic::error(
                                    "E0363",
                                    format!("cannot cast {t} ({from_size} bytes) to {target}"),
                                    ty_span.clone(),
                                )
                                .with_label("the sizes differ"),
                            );
                        }
                        return Type::Array {
                            elem: elem.clone(),
                            len,
                        };
                    }
                    // An array's bytes seen as one integer: `(int32)$a.y` of a `uint8 y[4]`.
                    (Type::Int { bits, .. }, Type::Array { .. }) => {
                        if usize::from(*bits) != t.c_size() * 8 {
                            self.error(
                                Diagnostic::error(
                                    "E0363",
                                    format!("cannot cast {t} ({} bytes) to {target}", t.c_size()),
                                    ty_span.clone(),
                                )
                                .with_label("the sizes differ"),
                            );
                        }
                        return target;
                    }
                    _ => {}
                }
                if !target.is_int() {
                    self.error(
                        Diagnostic::error(
                            "E0363",
                            format!("cannot cast to {target}"),
                            ty_span.clone(),
                        )
                        .with_label("casts are to integers, pointers, enums and arrays"),
                    );
                    return Type::I64;
                }
                self.expect_int(&t, expr, "a cast operand");
                target
            }
            ExprKind::Index { expr, index } => {
                let t = self.expr(cx, expr);
                let i = self.expr(cx, index);
                self.expect_int(&i, index, "an index");
                match t {
                    Type::Array { elem, len } => {
                        if let Some(n) = self.constant(index)
                            && (n < 0 || n as usize >= len)
                            && len > 0
                        {
                            self.error(
                                Diagnostic::error(
                                    "E0364",
                                    format!(
                                        "the index {n} is out of bounds for array of size {len}"
                                    ),
                                    index.span.clone(),
                                )
                                .with_label(format!(
                                    "this is {t}",
                                    t = Type::Array {
                                        elem: elem.clone(),
                                        len
                                    }
                                )),
                            );
                        }
                        *elem
                    }
                    Type::Ptr(pointee) => self.pointee(&pointee, e),
                    _ => {
                        self.error(
                            Diagnostic::error(
                                "E0365",
                                format!("{t} cannot be indexed"),
                                expr.span.clone(),
                            )
                            .with_label("only arrays and pointers are indexed with [...]"),
                        );
                        Type::I64
                    }
                }
            }
            ExprKind::SizeofType(ty) => {
                match self.tables.ctypes.resolve(ty, self.kernel) {
                    Ok(t) => {
                        cx.types.constants.insert(key(e), t.c_size() as i64);
                    }
                    Err(message) => self.error(Diagnostic::error("E0360", message, e.span.clone())),
                }
                Type::U64
            }
            ExprKind::SizeofExpr(inner) => {
                let t = self.expr(cx, inner);
                cx.types.constants.insert(key(e), t.c_size() as i64);
                Type::U64
            }
            ExprKind::Offsetof { ty, fields } => {
                let mut t = match self.tables.ctypes.resolve(ty, self.kernel) {
                    Ok(t) => t,
                    Err(message) => {
                        self.error(Diagnostic::error("E0360", message, e.span.clone()));
                        return Type::U64;
                    }
                };
                let mut offset = 0;
                for name in fields {
                    let Some(f) = self.field_of(&t, name, &e.span) else {
                        return Type::U64;
                    };
                    offset += f.offset;
                    t = f.ty;
                }
                cx.types.constants.insert(key(e), offset as i64);
                Type::U64
            }
            ExprKind::Field {
                expr,
                field,
                field_span,
            } => {
                self.field_base = matches!(expr.kind, ExprKind::Ident(_));
                let t = self.expr(cx, expr);
                self.field_base = false;
                if let Type::Tuple(items) = &t {
                    return self.tuple_field(items, field, field_span);
                }
                let record = match &t {
                    Type::Ptr(pointee) => Some(self.pointee(pointee, expr)),
                    Type::Record(_) => Some(t.clone()),
                    _ => None,
                };
                if let Some(record) = record {
                    return self
                        .field_of(&record, field, field_span)
                        .map_or(Type::I64, |f| f.ty);
                }
                if t != Type::Args {
                    self.error(
                        Diagnostic::error("E0319", format!("{t} has no fields"), expr.span.clone())
                            .with_label("fields are read from `args`, structs and unions"),
                    );
                    return Type::I64;
                }
                let Some(fields) = self.args_fields(cx.attach) else {
                    return Type::I64;
                };
                match fields.iter().find(|f| &f.name == field) {
                    Some(f) => field_type(f, self.options),
                    None => {
                        let whose = match cx.attach {
                            Attach::Tracepoint { category, name } => {
                                format!("tracepoint {category}:{name} has no field")
                            }
                            other => format!("{} has no parameter", other.full_name()),
                        };
                        let mut d = Diagnostic::error(
                            "E0320",
                            format!("{whose} `{field}`"),
                            field_span.clone(),
                        )
                        .with_label("unknown field");
                        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
                        if let Some(c) = diag::closest(field, names.iter().copied()) {
                            d = d.with_help(format!("did you mean `{c}`?"));
                        } else if !names.is_empty() {
                            d = d.with_help(format!("its fields are: {}", names.join(", ")));
                        }
                        self.error(d);
                        Type::I64
                    }
                }
            }
            ExprKind::Tuple(items) => {
                let types: Vec<Type> = items.iter().map(|i| self.expr(cx, i)).collect();
                Type::Tuple(types)
            }
            ExprKind::Block {
                stmts,
                value,
                macro_call,
            } => {
                if let Some(call) = macro_call {
                    self.macro_calls.push(call.clone());
                }
                for stmt in stmts {
                    self.stmt(cx, stmt);
                }
                let t = match value {
                    Some(value) => self.expr(cx, value),
                    None => Type::Void,
                };
                if macro_call.is_some() {
                    self.macro_calls.pop();
                }
                t
            }
            ExprKind::IncDec { target, .. } => {
                let one = Expr {
                    kind: ExprKind::Int(1),
                    span: e.span.clone(),
                };
                // Typed like `target += 1`; the literal is only for the check.
                self.assign(cx, target, Some(BinOp::Add), &one);
                match cx.types.exprs.get(&key(target)) {
                    Some(t @ Type::Ptr(_)) => t.clone(),
                    _ => Type::I64,
                }
            }
        }
    }

    /// What a pointer points to, its record looked up: a pointer to an unknown record cannot
    /// be followed (`at` is the dereference).
    fn pointee(&mut self, pointee: &Type, at: &Expr) -> Type {
        match pointee {
            Type::Named(name) => match self.tables.ctypes.record(name, self.kernel) {
                Some(r) => Type::Record(r),
                None => {
                    self.error(
                        Diagnostic::error(
                            "E0366",
                            format!("{name} is not defined, so a pointer to it cannot be followed"),
                            at.span.clone(),
                        )
                        .with_help(format!("define it before the probes: {name} {{ ... }}")),
                    );
                    Type::I64
                }
            },
            Type::Void => {
                self.error(Diagnostic::error(
                    "E0367",
                    "a `void *` points to nothing rbt can read; cast it to a typed pointer first",
                    at.span.clone(),
                ));
                Type::I64
            }
            t => t.clone(),
        }
    }

    /// Field `name` of a struct or union type; an error (with the fields it has) if missing.
    fn field_of(&mut self, t: &Type, name: &str, at: &Span) -> Option<crate::types::Field> {
        let Type::Record(r) = t else {
            self.error(Diagnostic::error(
                "E0319",
                format!("{t} has no fields"),
                at.clone(),
            ));
            return None;
        };
        if let Some(f) = r.field(name) {
            return Some(f.clone());
        }
        let names: Vec<&str> = r.fields.iter().map(|f| f.name.as_str()).collect();
        let mut d = Diagnostic::error(
            "E0368",
            format!("{} has no field `{name}`", r.name),
            at.clone(),
        )
        .with_label("unknown field");
        if let Some(c) = diag::closest(name, names.iter().copied()) {
            d = d.with_help(format!("did you mean `{c}`?"));
        } else if !names.is_empty() {
            d = d.with_help(format!("its fields are: {}", names.join(", ")));
        }
        self.error(d);
        None
    }

    /// What `args` holds in a probe: a tracepoint's fields or a function's parameters (None
    /// where there is no `args`, or when the kernel does not describe it).
    pub fn args_fields(&mut self, attach: &Attach) -> Option<Vec<TracepointField>> {
        match attach {
            Attach::Tracepoint { category, name } => self.tracepoint_fields(category, name),
            _ => self.function_proto(attach).map(|p| p.params),
        }
    }

    /// `args` as one value: each field (but a tracepoint's `common_` ones) as `args.NAME`
    /// reads it, each in 8-byte slots of its own, as a record prints (`{ .sk = 0x..., ... }`).
    fn args_record(&mut self, attach: &Attach) -> Option<std::sync::Arc<crate::types::Record>> {
        let mut fields = Vec::new();
        let mut offset = 0;
        for f in self.args_fields(attach)? {
            if matches!(attach, Attach::Tracepoint { .. }) && f.name.starts_with("common_") {
                continue;
            }
            let ty = field_type(&f, self.options);
            let size = ty.size().max(8);
            fields.push(crate::types::Field {
                name: f.name.clone(),
                offset,
                ty,
                bitfield: None,
            });
            offset += size;
        }
        Some(std::sync::Arc::new(crate::types::Record {
            name: "args".into(),
            size: offset.max(8),
            align: 8,
            fields,
        }))
    }

    /// The BTF prototype of the function an fentry/fexit probe traces.
    pub fn function_proto(&mut self, attach: &Attach) -> Option<FunctionProto> {
        let (Attach::Fentry {
            module, function, ..
        }
        | Attach::Fexit {
            module, function, ..
        }) = attach
        else {
            return None;
        };
        let kernel = self.kernel;
        let module = Some(module.as_deref().unwrap_or("vmlinux"));
        self.proto_cache
            .entry(format!("{}:{function}", module.unwrap_or_default()))
            .or_insert_with(|| kernel.function_proto(module, function))
            .clone()
    }

    /// The type of a traced function's return value: from its BTF prototype where the probe has
    /// one (fexit), else the 64-bit return register.
    fn return_type(&mut self, attach: &Attach, e: &Expr) -> Type {
        match self.function_proto(attach).map(|p| p.ret) {
            Some(Some(ret)) => field_type(&ret, self.options),
            Some(None) => {
                self.error(
                    Diagnostic::error(
                        "E0370",
                        format!("{} returns nothing", attach.full_name()),
                        e.span.clone(),
                    )
                    .with_label("the function is void"),
                );
                Type::U64
            }
            None => Type::U64,
        }
    }

    pub fn tracepoint_fields(
        &mut self,
        category: &str,
        name: &str,
    ) -> Option<Vec<TracepointField>> {
        let kernel = self.kernel;
        self.tracepoint_cache
            .entry((category.to_string(), name.to_string()))
            .or_insert_with(|| kernel.tracepoint_fields(category, name))
            .clone()
    }

    fn ident(&mut self, cx: &mut Ctx, name: &str, e: &Expr) -> Type {
        let class = cx.attach.class();
        if let Some(v) = self.catalogue.variable(name) {
            if !v.allowed.is_empty() && !v.allowed.contains(&class) {
                self.error(
                    Diagnostic::error(
                        "E0321",
                        format!("`{name}` has no meaning in a {} probe", class_name(class)),
                        e.span.clone(),
                    )
                    .with_label(format!("not available in {}", cx.attach.full_name()))
                    .with_help(format!(
                        "`{name}` is available in: {}",
                        v.allowed
                            .iter()
                            .map(|c| class_name(*c))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                );
            }
            if v.ty == Type::Return {
                return self.return_type(cx.attach, e);
            }
            if v.ty == Type::Args && !std::mem::take(&mut self.field_base) {
                // `args` as a whole: a record of every field.
                if let Some(record) = self.args_record(cx.attach) {
                    return Type::Record(record);
                }
            }
            return v.ty.clone();
        }
        if let Some(f) = self.catalogue.function(name) {
            // Calls without parentheses, as bpftrace allows for argument-less functions.
            if f.min_args == 0 {
                return self.call(cx, e, name, &e.span, &[]);
            }
        }
        if let Some(c) = self.tables.ctypes.constant(name, self.kernel) {
            cx.types.constants.insert(key(e), c.value);
            return c.ty;
        }
        let names = self
            .catalogue
            .variables
            .iter()
            .map(|v| v.name)
            .chain(self.catalogue.functions.iter().map(|f| f.name));
        let mut d = Diagnostic::error(
            "E0322",
            format!("unknown identifier `{name}`"),
            e.span.clone(),
        )
        .with_label("not a builtin");
        if let Some(c) = diag::closest(name, names) {
            d = d.with_help(format!("did you mean `{c}`?"));
        }
        self.error(d);
        Type::I64
    }

    fn call(
        &mut self,
        cx: &mut Ctx,
        e: &Expr,
        name: &str,
        name_span: &Span,
        args: &[Expr],
    ) -> Type {
        if args.is_empty()
            && self.catalogue.function(name).is_none()
            && self.catalogue.variable(name).is_some()
        {
            // `pid()`: builtin variables may be called like functions, as in bpftrace.
            return self.ident(cx, name, e);
        }
        let Some(f) = self.catalogue.function(name) else {
            let names = self.catalogue.functions.iter().map(|f| f.name);
            let mut d = Diagnostic::error(
                "E0323",
                format!("unknown function `{name}`"),
                name_span.clone(),
            )
            .with_label("not a builtin function");
            if let Some(c) = diag::closest(name, names) {
                d = d.with_help(format!("did you mean `{c}`?"));
            }
            self.error(d);
            for a in args {
                self.expr(cx, a);
            }
            // An integer, so that the unknown call causes no further errors.
            return Type::I64;
        };
        self.check_arity(f.min_args, f.max_args, f.signature, args, e);
        let map_arg = |this: &mut Self, cx: &mut Ctx, a: Option<&Expr>| -> Option<usize> {
            let a = a?;
            match &a.kind {
                ExprKind::Map { name, keys } if keys.is_empty() => {
                    match this.tables.map_index(name) {
                        Some(i) => Some(i),
                        None => {
                            this.error(Diagnostic::error(
                                "E0324",
                                format!("unknown map {name}"),
                                a.span.clone(),
                            ));
                            None
                        }
                    }
                }
                _ => {
                    this.expr(cx, a);
                    this.error(
                        Diagnostic::error(
                            "E0325",
                            format!("`{}` takes a map such as @name", f.name),
                            a.span.clone(),
                        )
                        .with_label("not a map"),
                    );
                    None
                }
            }
        };
        match f.kind {
            FunctionKind::Aggregation(_) => {
                for a in args {
                    self.expr(cx, a);
                }
                self.error(
                    Diagnostic::error(
                        "E0301",
                        format!("`{name}()` can only be assigned to a map"),
                        e.span.clone(),
                    )
                    .with_help(format!("write it as @name = {name}(...)")),
                );
                Type::Void
            }
            FunctionKind::Printf | FunctionKind::Log { .. } => {
                let types: Vec<Type> = args.iter().skip(1).map(|a| self.expr(cx, a)).collect();
                let Some(ExprKind::Str(fmt)) = args.first().map(|a| &a.kind) else {
                    if let Some(a) = args.first() {
                        self.error(
                            Diagnostic::error(
                                "E0326",
                                format!("the format of `{name}` must be a string literal"),
                                a.span.clone(),
                            )
                            .with_label("not a string literal"),
                        );
                    }
                    return Type::Void;
                };
                let format = String::from_utf8_lossy(fmt).into_owned();
                self.check_format(&format, &args[0], &args[1..], &types);
                let event = self.event(match f.kind {
                    FunctionKind::Log { error } => Event::Log {
                        error,
                        format,
                        args: types,
                        at: e.span.clone(),
                        expanded_from: self
                            .macro_calls
                            .iter()
                            .rev()
                            .map(|c| c.span.clone())
                            .collect(),
                    },
                    _ => Event::Printf {
                        format,
                        args: types,
                    },
                });
                cx.types.events.insert(key(e), event);
                Type::Void
            }
            FunctionKind::Exit => {
                if let Some(a) = args.first() {
                    let t = self.expr(cx, a);
                    self.expect_int(&t, a, "an exit code");
                }
                let event = self.event(Event::Exit);
                cx.types.events.insert(key(e), event);
                Type::Void
            }
            FunctionKind::Print => {
                let event = match args.first().map(|a| &a.kind) {
                    Some(ExprKind::Map { keys, .. }) if keys.is_empty() => {
                        let Some(map) = map_arg(self, cx, args.first()) else {
                            return Type::Void;
                        };
                        let mut nums = [0u64, 1];
                        for (slot, a) in nums.iter_mut().zip(&args[1..]) {
                            match self.constant(a) {
                                Some(v) if v >= 0 => *slot = v as u64,
                                _ => self.error(Diagnostic::error(
                                    "E0327",
                                    "`print(@map, top, div)` takes constant numbers",
                                    a.span.clone(),
                                )),
                            }
                        }
                        Event::PrintMap {
                            map,
                            top: nums[0],
                            div: nums[1].max(1),
                        }
                    }
                    Some(_) => {
                        let ty = self.expr(cx, &args[0]);
                        Event::PrintValue { ty }
                    }
                    None => return Type::Void,
                };
                let event = self.event(event);
                cx.types.events.insert(key(e), event);
                Type::Void
            }
            FunctionKind::Clear | FunctionKind::Zero => {
                if let Some(map) = map_arg(self, cx, args.first()) {
                    let event = if f.kind == FunctionKind::Clear {
                        Event::Clear { map }
                    } else {
                        Event::Zero { map }
                    };
                    let event = self.event(event);
                    cx.types.events.insert(key(e), event);
                }
                Type::Void
            }
            FunctionKind::Delete => {
                match args {
                    [
                        m @ Expr {
                            kind: ExprKind::Map { name, keys },
                            ..
                        },
                    ] => {
                        let key_ty = self.map_key(cx, keys);
                        self.check_existing_key(name, key_ty, m);
                    }
                    [
                        m @ Expr {
                            kind: ExprKind::Map { name, keys },
                            ..
                        },
                        k,
                    ] if keys.is_empty() => {
                        let key_ty = match &k.kind {
                            ExprKind::Tuple(items) => self.map_key(cx, items),
                            _ => self.map_key(cx, std::slice::from_ref(k)),
                        };
                        self.check_existing_key(name, key_ty, m);
                    }
                    _ => {
                        for a in args {
                            self.expr(cx, a);
                        }
                        if let Some(a) = args.first() {
                            self.error(Diagnostic::error(
                                "E0325",
                                "`delete` takes a map: delete(@m, key)",
                                a.span.clone(),
                            ));
                        }
                    }
                }
                Type::Bool
            }
            FunctionKind::Str => {
                for a in args {
                    let t = self.expr(cx, a);
                    if !t.is_int() && !matches!(t, Type::Str { .. }) {
                        self.expect_int(&t, a, "the argument of `str`");
                    }
                }
                let mut len = self.options.max_strlen;
                if let Some(Expr {
                    kind: ExprKind::Positional(n),
                    ..
                }) = args.first()
                {
                    // `str($1)`: the parameter's text, even when it reads as a number.
                    return Type::Str {
                        len: self.options.positional_text(*n).len() + 1,
                    };
                }
                if let Some(n) = args.get(1) {
                    match self.constant(n) {
                        Some(v) if v > 0 => len = len.min(v as usize + 1),
                        _ => self.error(Diagnostic::error(
                            "E0328",
                            "the length given to `str` must be a positive constant",
                            n.span.clone(),
                        )),
                    }
                }
                match args.first().map(|a| self.types_of(cx, a)) {
                    Some(Type::Str { len: l }) => Type::Str { len: l.min(len) },
                    _ => Type::Str { len },
                }
            }
            FunctionKind::Strncmp => {
                for a in &args[..args.len().min(2)] {
                    self.expect_str(cx, a, f.name);
                }
                if let Some(n) = args.get(2) {
                    self.expr(cx, n);
                    if !matches!(n.kind, ExprKind::Int(_)) {
                        self.error(Diagnostic::error(
                            "E0350",
                            "the length given to `strncmp` must be a constant of 0 or more",
                            n.span.clone(),
                        ));
                    }
                }
                Type::U64
            }
            FunctionKind::Strcontains | FunctionKind::Strstr | FunctionKind::Strlen => {
                for a in args {
                    self.expect_str(cx, a, f.name);
                }
                match f.kind {
                    FunctionKind::Strcontains => Type::Bool,
                    FunctionKind::Strstr => Type::I64,
                    _ => Type::U64,
                }
            }
            FunctionKind::HasKey => {
                let Some(map) = map_arg(self, cx, args.first()) else {
                    for a in args.iter().skip(1) {
                        self.expr(cx, a);
                    }
                    return Type::Bool;
                };
                let Some(k) = args.get(1) else {
                    return Type::Bool;
                };
                let key_ty = match &k.kind {
                    ExprKind::Tuple(items) => self.map_key(cx, items),
                    _ => self.map_key(cx, std::slice::from_ref(k)),
                };
                let info = self.tables.maps[map].clone();
                if let MapValue::Agg {
                    kind: kind @ (AggKind::Hist | AggKind::Lhist | AggKind::Tseries),
                    ..
                } = info.value
                {
                    self.error(Diagnostic::error(
                        "E0354",
                        format!(
                            "`has_key` cannot look into {}, a {} map",
                            info.name,
                            agg_name(kind)
                        ),
                        args[0].span.clone(),
                    ));
                }
                match (&info.key, &key_ty) {
                    (None, _) => self.error(
                        Diagnostic::error(
                            "E0351",
                            format!(
                                "`has_key` needs a map with keys, but {} has none",
                                info.name
                            ),
                            args[0].span.clone(),
                        )
                        .with_secondary(info.first_use.clone(), "used without keys here"),
                    ),
                    (Some(want), Some(got)) if !want.accepts(got) => self.error(
                        Diagnostic::error(
                            "E0352",
                            format!("{} has keys of type {want}, not {got}", info.name),
                            k.span.clone(),
                        )
                        .with_secondary(info.first_use.clone(), "its key type was fixed here"),
                    ),
                    _ => {}
                }
                Type::Bool
            }
            FunctionKind::System | FunctionKind::Signal if !self.options.allow_unsafe => {
                for a in args {
                    self.expr(cx, a);
                }
                self.error(
                    Diagnostic::error(
                        "E0355",
                        format!("`{name}` changes the system and needs --unsafe"),
                        e.span.clone(),
                    )
                    .with_help("run rbt with --unsafe to allow it"),
                );
                Type::Void
            }
            FunctionKind::Time => {
                let format = match args.first().map(|a| &a.kind) {
                    None => "%H:%M:%S\n".to_string(),
                    Some(ExprKind::Str(fmt)) => String::from_utf8_lossy(fmt).into_owned(),
                    Some(_) => {
                        self.error(Diagnostic::error(
                            "E0356",
                            "the format of `time` must be a string literal",
                            args[0].span.clone(),
                        ));
                        return Type::Void;
                    }
                };
                let event = self.event(Event::Time { format });
                cx.types.events.insert(key(e), event);
                Type::Void
            }
            FunctionKind::Cat | FunctionKind::System => {
                let types: Vec<Type> = args.iter().skip(1).map(|a| self.expr(cx, a)).collect();
                let Some(ExprKind::Str(fmt)) = args.first().map(|a| &a.kind) else {
                    if let Some(a) = args.first() {
                        self.error(Diagnostic::error(
                            "E0356",
                            format!("the first argument of `{name}` must be a string literal"),
                            a.span.clone(),
                        ));
                    }
                    return Type::Void;
                };
                let format = String::from_utf8_lossy(fmt).into_owned();
                self.check_format(&format, &args[0], &args[1..], &types);
                let event = if f.kind == FunctionKind::Cat {
                    Event::Cat {
                        format,
                        args: types,
                    }
                } else {
                    Event::System {
                        format,
                        args: types,
                    }
                };
                let event = self.event(event);
                cx.types.events.insert(key(e), event);
                Type::Void
            }
            FunctionKind::Signal => {
                let Some(a) = args.first() else {
                    return Type::Void;
                };
                let t = self.expr(cx, a);
                match &a.kind {
                    ExprKind::Str(text) if signal_number(text).is_none() => {
                        self.error(Diagnostic::error(
                            "E0357",
                            format!("unknown signal {}", String::from_utf8_lossy(text)),
                            a.span.clone(),
                        ))
                    }
                    ExprKind::Str(_) => {}
                    _ => self.expect_int(&t, a, "a signal"),
                }
                Type::Void
            }
            FunctionKind::Render(render) => {
                for a in args {
                    let t = self.expr(cx, a);
                    self.expect_int(&t, a, &format!("the argument of `{name}`"));
                }
                Type::Rendered(render)
            }
            FunctionKind::Stack { user } => {
                let mut mode = self.options.stack_mode.unwrap_or(StackMode::Bpftrace);
                let mut limit = MAX_STACK_FRAMES;
                for (i, a) in args.iter().enumerate() {
                    match (&a.kind, self.constant(a)) {
                        (ExprKind::Ident(m), _) if i == 0 && StackMode::named(m).is_some() => {
                            mode = StackMode::named(m).unwrap_or(mode)
                        }
                        (_, Some(n)) if (0..=i64::from(MAX_STACK_FRAMES)).contains(&n) => {
                            limit = n as u8
                        }
                        _ => self.error(
                            Diagnostic::error(
                                "E0358",
                                format!(
                                    "`{name}` takes a stack mode (bpftrace, perf, raw, build_id) and a frame limit from 0 to {MAX_STACK_FRAMES}"
                                ),
                                a.span.clone(),
                            )
                            .with_help(format!("e.g. {name}(perf, 3)")),
                        ),
                    }
                }
                self.tables.stacks = true;
                Type::Rendered(Render::Stack { user, mode, limit })
            }
            FunctionKind::Nsecs => {
                if let Some(a) = args.first()
                    && !matches!(&a.kind, ExprKind::Ident(c) if CLOCKS.contains(&c.as_str()))
                {
                    self.error(
                        Diagnostic::error("E0359", "unknown clock", a.span.clone())
                            .with_help(format!("the clocks are: {}", CLOCKS.join(", "))),
                    );
                }
                Type::U64
            }
            FunctionKind::Ntop => {
                let types: Vec<Type> = args.iter().map(|a| self.expr(cx, a)).collect();
                if let [af, _] = args {
                    self.expect_int(&types[0], af, "an address family");
                }
                if let (Some(a), Some(t)) = (args.last(), types.last())
                    && !matches!(t, Type::Int { .. } | Type::Str { .. } | Type::Buf { .. })
                {
                    self.error(
                        Diagnostic::error(
                            "E0360",
                            format!("`ntop` takes an integer or the bytes of an address, not {t}"),
                            a.span.clone(),
                        )
                        .with_label(format!("this is {t}")),
                    );
                }
                Type::Rendered(Render::Inet)
            }
            FunctionKind::Pton => match args.first().map(|a| &a.kind) {
                Some(ExprKind::Str(text)) => match pton(text) {
                    Some(bytes) => Type::Buf { len: bytes.len() },
                    None => {
                        self.error(
                            Diagnostic::error(
                                "E0361",
                                format!(
                                    "`{}` is not an IPv4 or IPv6 address",
                                    String::from_utf8_lossy(text)
                                ),
                                args[0].span.clone(),
                            )
                            .with_help("e.g. pton(\"127.0.0.1\") or pton(\"::1\")"),
                        );
                        Type::Buf { len: 4 }
                    }
                },
                _ => {
                    if let Some(a) = args.first() {
                        self.expr(cx, a);
                        self.error(Diagnostic::error(
                            "E0361",
                            "`pton` takes a string literal",
                            a.span.clone(),
                        ));
                    }
                    Type::Buf { len: 4 }
                }
            },
            FunctionKind::Strftime => {
                if let Some(ns) = args.get(1) {
                    let t = self.expr(cx, ns);
                    self.expect_int(&t, ns, "the time given to `strftime`");
                }
                let Some(ExprKind::Str(fmt)) = args.first().map(|a| &a.kind) else {
                    if let Some(a) = args.first() {
                        self.expr(cx, a);
                        self.error(Diagnostic::error(
                            "E0356",
                            "the format of `strftime` must be a string literal",
                            a.span.clone(),
                        ));
                    }
                    return Type::Rendered(Render::Time { format: 0 });
                };
                let fmt = String::from_utf8_lossy(fmt).into_owned();
                let format = match self.tables.time_formats.iter().position(|f| *f == fmt) {
                    Some(i) => i,
                    None => {
                        self.tables.time_formats.push(fmt);
                        self.tables.time_formats.len() - 1
                    }
                };
                Type::Rendered(Render::Time {
                    format: format as u32,
                })
            }
            FunctionKind::Buf => {
                let t = match args.first() {
                    Some(a) => self.expr(cx, a),
                    None => return Type::Buf { len: 0 },
                };
                if !t.is_int()
                    && !matches!(
                        t,
                        Type::Str { .. } | Type::Buf { .. } | Type::Array { .. } | Type::Record(_)
                    )
                {
                    self.expect_int(&t, &args[0], "the argument of `buf`");
                }
                let len = match args.get(1) {
                    Some(n) => {
                        self.expr(cx, n);
                        let given = match &n.kind {
                            ExprKind::Positional(p) => match self.options.positional_value(*p) {
                                Positional::Int(v) => Some(v),
                                Positional::Str(_) => None,
                            },
                            _ => self.constant(n),
                        };
                        match given {
                            Some(v) if v >= 0 => (v as usize).min(self.options.max_strlen),
                            _ => {
                                self.error(Diagnostic::error(
                                    "E0362",
                                    "the length given to `buf` must be a constant of 0 or more",
                                    n.span.clone(),
                                ));
                                0
                            }
                        }
                    }
                    None => match t {
                        Type::Str { len } | Type::Buf { len } => len,
                        // An array or struct value: all its bytes.
                        Type::Array { .. } | Type::Record(_) => t.c_size(),
                        _ => {
                            self.error(
                                Diagnostic::error(
                                    "E0362",
                                    "`buf` of a pointer needs a length",
                                    args[0].span.clone(),
                                )
                                .with_help("e.g. buf(arg0, 16)"),
                            );
                            0
                        }
                    },
                };
                Type::Buf { len }
            }
            FunctionKind::Debugf => {
                let types: Vec<Type> = args.iter().skip(1).map(|a| self.expr(cx, a)).collect();
                let Some(ExprKind::Str(fmt)) = args.first().map(|a| &a.kind) else {
                    if let Some(a) = args.first() {
                        self.error(Diagnostic::error(
                            "E0326",
                            "the format of `debugf` must be a string literal",
                            a.span.clone(),
                        ));
                    }
                    return Type::Void;
                };
                let format = String::from_utf8_lossy(fmt).into_owned();
                self.check_format(&format, &args[0], &args[1..], &types);
                self.tables.trace_printk = true;
                for (a, t) in args[1..].iter().zip(&types) {
                    if !t.is_int() && !matches!(t, Type::Str { .. }) {
                        self.expect_int(t, a, "an argument of `debugf`");
                    }
                }
                Type::Void
            }
            FunctionKind::Join => {
                if let Some(a) = args.first() {
                    let t = self.expr(cx, a);
                    self.expect_int(&t, a, "the array given to `join`");
                }
                let sep = match args.get(1).map(|a| &a.kind) {
                    None => " ".to_string(),
                    Some(ExprKind::Str(sep)) => String::from_utf8_lossy(sep).into_owned(),
                    Some(_) => {
                        self.error(Diagnostic::error(
                            "E0356",
                            "the separator of `join` must be a string literal",
                            args[1].span.clone(),
                        ));
                        return Type::Void;
                    }
                };
                let event = self.event(Event::Join { sep });
                cx.types.events.insert(key(e), event);
                Type::Void
            }
            FunctionKind::Kaddr => {
                let Some(a) = args.first() else {
                    return Type::U64;
                };
                self.expr(cx, a);
                let Some(symbol) = self.constant_string(a) else {
                    self.error(Diagnostic::error(
                        "E0365",
                        "`kaddr` takes a symbol name: a string literal or str($N)",
                        a.span.clone(),
                    ));
                    return Type::U64;
                };
                match self.kernel.symbol_address(&symbol) {
                    Some(addr) => {
                        self.tables.kaddrs.insert(symbol, addr);
                    }
                    None => self.error(Diagnostic::error(
                        "E0366",
                        format!("Failed to resolve kernel symbol: {symbol}"),
                        e.span.clone(),
                    )),
                }
                Type::U64
            }
            FunctionKind::Len => {
                if let Some(map) = map_arg(self, cx, args.first())
                    && self.tables.maps[map].key.is_none()
                {
                    self.error(
                        Diagnostic::error(
                            "E0363",
                            "call to len() expects a map with explicit keys (non-scalar map)",
                            args[0].span.clone(),
                        )
                        .with_secondary(
                            self.tables.maps[map].first_use.clone(),
                            "used without keys here",
                        ),
                    );
                }
                Type::I64
            }
            FunctionKind::Getopt => match self.getopt(args) {
                Some((name, value)) => {
                    if !self.tables.getopts.contains(&name) {
                        self.tables.getopts.push(name);
                    }
                    value.ty()
                }
                None => Type::I64,
            },
            FunctionKind::Bswap => {
                let Some(a) = args.first() else {
                    return Type::U64;
                };
                let t = self.expr(cx, a);
                self.expect_int(&t, a, "the argument of `bswap`");
                match t {
                    Type::Int { .. } => t,
                    _ => Type::U64,
                }
            }
        }
    }

    /// The text of a string known when compiling: a literal, or `str($N)`.
    pub fn constant_string(&self, e: &Expr) -> Option<String> {
        match &e.kind {
            ExprKind::Str(text) => Some(String::from_utf8_lossy(text).into_owned()),
            ExprKind::Call { name, args, .. } if args.len() == 1 => {
                match (&args[0].kind, self.catalogue.function(name).map(|f| f.kind)) {
                    (ExprKind::Positional(n), Some(FunctionKind::Str)) => {
                        Some(self.options.positional_text(*n).to_string())
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// `getopt("name"[, default[, "description"]])`: the option's name and its value; errors
    /// when the arguments are not literals or the command line's value does not fit.
    fn getopt(&mut self, args: &[Expr]) -> Option<(String, Getopt)> {
        let (name, default) = match getopt_args(args) {
            Ok(parsed) => parsed,
            Err((span, what)) => {
                self.error(Diagnostic::error(
                    "E0358",
                    format!("`getopt` takes {what}"),
                    span,
                ));
                return None;
            }
        };
        match self.options.getopt(&name, default) {
            Ok(value) => Some((name, value)),
            Err(kind) => {
                let given = self
                    .options
                    .named
                    .iter()
                    .rev()
                    .find(|(n, _)| *n == name)
                    .and_then(|(_, v)| v.clone())
                    .unwrap_or_default();
                self.error(
                    Diagnostic::error(
                        "E0359",
                        format!(
                            "program command line option --{name} invalid {kind} (value: {given})"
                        ),
                        args[0].span.clone(),
                    )
                    .with_label(format!("--{name} is read as {} here", article(kind))),
                );
                None
            }
        }
    }

    /// Checks that `e` is a string, the argument of builtin `function`.
    fn expect_str(&mut self, cx: &mut Ctx, e: &Expr, function: &str) {
        let t = self.expr(cx, e);
        if !matches!(t, Type::Str { .. }) {
            self.error(
                Diagnostic::error(
                    "E0353",
                    format!("the arguments of `{function}` must be strings"),
                    e.span.clone(),
                )
                .with_label(format!("this is {t}")),
            );
        }
    }

    fn types_of(&self, cx: &Ctx, e: &Expr) -> Type {
        cx.types.of(e).clone()
    }

    fn check_existing_key(&mut self, name: &str, key_ty: Option<Type>, at: &Expr) {
        let Some(i) = self.tables.map_index(name) else {
            return self.error(Diagnostic::error(
                "E0324",
                format!("unknown map {name}"),
                at.span.clone(),
            ));
        };
        let value = self.tables.maps[i].value.clone();
        self.fix_map(name, key_ty, value, at);
    }

    fn event(&mut self, event: Event) -> usize {
        if let Some(i) = self.tables.events.iter().position(|e| *e == event) {
            return i;
        }
        self.tables.events.push(event);
        self.tables.events.len() - 1
    }

    /// Checks a printf format against its arguments: one argument per conversion, strings for
    /// `%s`, integers for the rest.
    fn check_format(&mut self, format: &str, fmt_expr: &Expr, args: &[Expr], types: &[Type]) {
        let convs = match crate::printf::parse_format(format) {
            Ok(pieces) => pieces
                .into_iter()
                .filter_map(|p| match p {
                    crate::printf::Piece::Conv(c) => Some(c),
                    crate::printf::Piece::Literal(_) => None,
                })
                .collect::<Vec<_>>(),
            Err(e) => {
                let at = fmt_expr.span.start + 1 + e.offset;
                return self.error(
                    Diagnostic::error(
                        "E0329",
                        format!("bad printf format: {}", e.message),
                        at..(at + 1).min(fmt_expr.span.end),
                    )
                    .with_label("here"),
                );
            }
        };
        if convs.len() != args.len() {
            return self.error(
                Diagnostic::error(
                    "E0330",
                    format!(
                        "the format has {} conversions but {} arguments follow it",
                        convs.len(),
                        args.len()
                    ),
                    fmt_expr.span.clone(),
                )
                .with_label("format string"),
            );
        }
        for ((conv, arg), t) in convs.iter().zip(args).zip(types) {
            let ok = if conv.kind.takes_integer() {
                t.is_int()
            } else if conv.kind.takes_buffer() {
                matches!(t, Type::Buf { .. })
            } else {
                true
            };
            if !ok {
                self.error(
                    Diagnostic::error(
                        "E0331",
                        format!("`{}` cannot print a value of type {t}", conv.text),
                        arg.span.clone(),
                    )
                    .with_label(format!("this is {t}")),
                );
            }
        }
    }
}

/// The most strings `join` prints, and the bytes kept of each (bpftrace's join_argnum and
/// join_argsize).
pub const JOIN_ARGS: usize = 16;
pub const JOIN_ARG_BYTES: usize = 1024;

/// The most frames a stack keeps (the kernel's default perf_event_max_stack).
pub const MAX_STACK_FRAMES: u8 = 127;

/// The clocks `nsecs(clock)` reads.
pub const CLOCKS: [&str; 4] = ["boot", "monotonic", "tai", "sw_tai"];

/// The bytes of an IPv4 (4) or IPv6 (16) address literal.
pub fn pton(text: &[u8]) -> Option<Vec<u8>> {
    match std::str::from_utf8(text)
        .ok()?
        .parse::<std::net::IpAddr>()
        .ok()?
    {
        std::net::IpAddr::V4(a) => Some(a.octets().to_vec()),
        std::net::IpAddr::V6(a) => Some(a.octets().to_vec()),
    }
}

/// The number of a signal named as `signal()` takes it: `"KILL"` or `"SIGKILL"`.
pub fn signal_number(name: &[u8]) -> Option<i64> {
    let name = name.strip_prefix(b"SIG").unwrap_or(name);
    let names: [&[u8]; 31] = [
        b"HUP", b"INT", b"QUIT", b"ILL", b"TRAP", b"ABRT", b"BUS", b"FPE", b"KILL", b"USR1",
        b"SEGV", b"USR2", b"PIPE", b"ALRM", b"TERM", b"STKFLT", b"CHLD", b"CONT", b"STOP", b"TSTP",
        b"TTIN", b"TTOU", b"URG", b"XCPU", b"XFSZ", b"VTALRM", b"PROF", b"WINCH", b"IO", b"PWR",
        b"SYS",
    ];
    names.iter().position(|n| *n == name).map(|i| i as i64 + 1)
}

fn widen(t: Type) -> Type {
    match t {
        Type::Int { signed, .. } => Type::Int { bits: 64, signed },
        other => other,
    }
}

fn field_type(f: &TracepointField, options: &Options) -> Type {
    if let Some(t) = &f.ty {
        return t.clone();
    }
    match f.kind {
        FieldKind::CharArray => Type::Str {
            len: f.size as usize,
        },
        FieldKind::DataLocStr => Type::Str {
            len: options.max_strlen,
        },
        FieldKind::Int => Type::Int {
            bits: (f.size * 8).min(64) as u8,
            signed: f.signed,
        },
        FieldKind::StrPtr | FieldKind::Other => Type::U64,
    }
}

pub fn agg_name(kind: AggKind) -> &'static str {
    match kind {
        AggKind::Count => "count",
        AggKind::Sum => "sum",
        AggKind::Avg => "avg",
        AggKind::Min => "min",
        AggKind::Max => "max",
        AggKind::Stats => "stats",
        AggKind::Hist => "hist",
        AggKind::Lhist => "lhist",
        AggKind::Tseries => "tseries",
    }
}

pub fn class_name(class: ProbeClass) -> &'static str {
    match class {
        ProbeClass::Special => "begin/end",
        ProbeClass::Tracepoint => "tracepoint",
        ProbeClass::Kprobe => "kprobe",
        ProbeClass::Kretprobe => "kretprobe",
        ProbeClass::Uprobe => "uprobe",
        ProbeClass::Uretprobe => "uretprobe",
        ProbeClass::Fentry => "fentry",
        ProbeClass::Fexit => "fexit",
        ProbeClass::Perf => "interval/profile",
    }
}
