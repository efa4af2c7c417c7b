//! Macro expansion: the pass between parsing and sema that replaces every macro call by a copy
//! of the macro's body (a block expression), so no later phase sees a macro. It follows
//! bpftrace's `macro_expansion.cpp`:
//! - a `$x` parameter takes a variable and an `@m` parameter a map (without keys), by name: the
//!   body reads and writes the caller's; an `e` parameter takes any expression, copied in place
//!   of every use of `e` (so it is evaluated at each);
//! - hygiene: a variable the body assigns or declares is renamed `$$<macro>_<name>` (with the
//!   depth, `$$<macro>_<depth>_<name>`, below the first level); a map the body names must be a
//!   parameter;
//! - a bare identifier expands a macro of no parameters; a call or identifier that names no
//!   macro is left alone (builtins, functions);
//! - macros may call macros, defined in any order; a macro that reaches itself is an error.
//!
//! All wording of macro errors (codes `E015x`) is in this file.

use std::collections::{HashMap, HashSet};

use crate::ast::*;
use crate::diag::Diagnostic;

/// Expands every macro call in the script's actions and removes the definitions.
pub fn expand(script: &mut Script) -> Result<(), Vec<Diagnostic>> {
    let macros = std::mem::take(&mut script.macros);
    let mut expander = Expander {
        registry: Registry::new(&macros),
        diagnostics: Vec::new(),
        stack: Vec::new(),
        too_large: false,
    };
    expander.diagnostics.append(&mut expander.registry.errors);
    for action in &mut script.actions {
        if let Some(pred) = &mut action.predicate {
            expander.expr(&mut None, pred);
        }
        expander.stmts(&mut None, &mut action.body.stmts);
    }
    if expander.diagnostics.is_empty() {
        Ok(())
    } else {
        Err(expander.diagnostics)
    }
}

/// The definitions by name, in the order written.
struct Registry<'m> {
    by_name: HashMap<&'m str, Vec<&'m MacroDef>>,
    errors: Vec<Diagnostic>,
}

/// What a call's name and arguments find.
enum Lookup<'m> {
    /// No macro has this name: a builtin or a function.
    None,
    Found(&'m MacroDef),
    /// Macros of this name exist but none takes these arguments; the closest.
    Mismatch(&'m MacroDef),
}

impl<'m> Registry<'m> {
    fn new(macros: &'m [MacroDef]) -> Self {
        let mut registry = Registry {
            by_name: HashMap::new(),
            errors: Vec::new(),
        };
        for m in macros {
            // Definitions of one name may differ in their parameters' kinds, the more precise
            // first: a later one that an earlier one would already take is a redefinition.
            let as_args: Vec<ParamKind> = m.params.iter().map(|p| p.kind).collect();
            if let Lookup::Found(first) = registry.lookup_kinds(&m.name, &as_args) {
                registry.errors.push(
                    Diagnostic::error(
                        "E0150",
                        format!("macro `{}` is defined twice", m.name),
                        m.name_span.clone(),
                    )
                    .with_label("defined again here")
                    .with_secondary(first.name_span.clone(), "first defined here"),
                );
                continue;
            }
            if let Some(d) = repeated_param(m) {
                registry.errors.push(d);
                continue;
            }
            registry.by_name.entry(&m.name).or_default().push(m);
        }
        registry
    }

    /// The first definition that takes arguments of these kinds, or the closest one.
    fn lookup_kinds(&self, name: &str, args: &[ParamKind]) -> Lookup<'m> {
        let Some(defs) = self.by_name.get(name) else {
            return Lookup::None;
        };
        let closest = defs
            .iter()
            .min_by_key(|m| distance(m, args))
            .expect("bug: a macro name without definitions");
        if distance(closest, args) == 0 {
            Lookup::Found(closest)
        } else {
            Lookup::Mismatch(closest)
        }
    }
}

/// How an argument can be passed: a keyless map or a variable by name, anything else as an
/// expression.
fn arg_kind(arg: &Expr) -> ParamKind {
    match &arg.kind {
        ExprKind::Var(_) => ParamKind::Var,
        ExprKind::Map { keys, .. } if keys.is_empty() => ParamKind::Map,
        _ => ParamKind::Expr,
    }
}

/// How badly a definition fits arguments of these kinds; 0 is a fit. A wrong count outweighs
/// any number of wrong kinds.
fn distance(m: &MacroDef, args: &[ParamKind]) -> usize {
    let count = 1024 * m.params.len().abs_diff(args.len());
    let kinds = m
        .params
        .iter()
        .zip(args)
        .filter(|(p, a)| p.kind != ParamKind::Expr && p.kind != **a)
        .count();
    count + kinds
}

/// Two parameters of one kind with one name.
fn repeated_param(m: &MacroDef) -> Option<Diagnostic> {
    let mut seen: HashSet<(ParamKind, &str)> = HashSet::new();
    let repeated = m.params.iter().find(|p| !seen.insert((p.kind, &p.name)))?;
    Some(
        Diagnostic::error(
            "E0151",
            format!(
                "parameter `{}` of macro `{}` is named twice",
                param_text(repeated),
                m.name
            ),
            repeated.span.clone(),
        )
        .with_label("named again here"),
    )
}

fn param_text(p: &MacroParam) -> String {
    match p.kind {
        ParamKind::Var => format!("${}", p.name),
        ParamKind::Map | ParamKind::Expr => p.name.clone(),
    }
}

fn kind_words(kind: ParamKind) -> &'static str {
    match kind {
        ParamKind::Var => "a variable",
        ParamKind::Map => "a map",
        ParamKind::Expr => "an expression",
    }
}

/// One expansion of one macro: what its parameters stand for, and what it renames.
struct Frame<'m> {
    def: &'m MacroDef,
    /// Parameter `$x` → the caller's variable name.
    vars: HashMap<String, String>,
    /// Parameter `@m` → the caller's map name.
    maps: HashMap<String, String>,
    /// Parameter `e` → the caller's expression (already expanded) and its number of nodes.
    exprs: HashMap<String, (Expr, usize)>,
    /// Variables the body assigns or declares: renamed.
    own: HashSet<String>,
    /// `$$<macro>_` or `$$<macro>_<depth>_`, less the leading `$` that `Var` leaves out.
    prefix: String,
}

/// How deeply macro calls may nest: deeper expansions would risk the stack in later phases.
const MAX_NESTING: usize = 32;
/// How many nodes one expansion may make: an expression parameter used twice doubles its
/// argument at each level, which must not run away.
const MAX_NODES: usize = 100_000;

struct Expander<'m> {
    registry: Registry<'m>,
    diagnostics: Vec<Diagnostic>,
    /// The macros being expanded, outermost first, with the span of each one's call.
    stack: Vec<(&'m MacroDef, Span)>,
    /// Set once an expansion was too large: no more are made (each would repeat the error).
    too_large: bool,
}

/// Every `stmt`/`expr` visit returns the number of nodes it leaves, expansions included.
impl<'m> Expander<'m> {
    fn stmts(&mut self, frame: &mut Option<Frame<'m>>, stmts: &mut [Stmt]) -> usize {
        stmts.iter_mut().map(|s| self.stmt(frame, s)).sum()
    }

    fn stmt(&mut self, frame: &mut Option<Frame<'m>>, stmt: &mut Stmt) -> usize {
        1 + match &mut stmt.kind {
            StmtKind::Expr(e) => self.expr(frame, e),
            StmtKind::Assign { target, value, .. } => {
                if let (Some(f), ExprKind::Var(name)) = (frame.as_mut(), &target.kind)
                    && !f.vars.contains_key(name)
                {
                    f.own.insert(name.clone());
                }
                self.expr(frame, target) + self.expr(frame, value)
            }
            StmtKind::If { cond, then, els } => {
                let mut n = self.expr(frame, cond) + self.stmts(frame, &mut then.stmts);
                if let Some(els) = els {
                    n += self.stmts(frame, &mut els.stmts);
                }
                n
            }
            StmtKind::Let { name, value } => {
                if let Some(f) = frame.as_mut() {
                    if f.vars.contains_key(name) {
                        self.diagnostics.push(
                            Diagnostic::error(
                                "E0152",
                                format!(
                                    "`let ${name}` shadows a parameter of macro `{}`",
                                    f.def.name
                                ),
                                stmt.span.clone(),
                            )
                            .with_label("declared here")
                            .with_help(format!(
                                "`${name}` is the caller's variable; assign to it, or declare another name"
                            )),
                        );
                    } else {
                        f.own.insert(name.clone());
                        *name = format!("{}{name}", f.prefix);
                    }
                }
                value.as_mut().map_or(0, |v| self.expr(frame, v))
            }
            StmtKind::Return(value) => value.as_mut().map_or(0, |v| self.expr(frame, v)),
            StmtKind::While { cond: head, body } | StmtKind::Unroll { count: head, body } => {
                self.expr(frame, head) + self.stmts(frame, &mut body.stmts)
            }
            StmtKind::For {
                var, iter, body, ..
            } => {
                let n = match iter {
                    ForIter::Map(map) => self.expr(frame, map),
                    ForIter::Range { start, end } => {
                        self.expr(frame, start) + self.expr(frame, end)
                    }
                };
                // The loop's variable is the body's own, like a `let`.
                if let Some(f) = frame.as_mut() {
                    match f.vars.get(var.as_str()) {
                        Some(theirs) => *var = theirs.clone(),
                        None => {
                            f.own.insert(var.clone());
                            *var = format!("{}{var}", f.prefix);
                        }
                    }
                }
                n + self.stmts(frame, &mut body.stmts)
            }
            StmtKind::Break | StmtKind::Continue => 0,
        }
    }

    fn expr(&mut self, frame: &mut Option<Frame<'m>>, e: &mut Expr) -> usize {
        1 + match &mut e.kind {
            ExprKind::Ident(name) => {
                if let Some((arg, size)) = frame.as_ref().and_then(|f| f.exprs.get(name.as_str())) {
                    *e = arg.clone();
                    return *size;
                }
                let name = name.clone();
                match self.call(e, &name, &mut []) {
                    Some(size) => return size,
                    None => 0,
                }
            }
            ExprKind::Call { name, args, .. } => {
                let mut args: Vec<(Expr, usize)> = args
                    .iter_mut()
                    .map(|arg| {
                        let size = self.expr(frame, arg);
                        (arg.clone(), size)
                    })
                    .collect();
                let name = name.clone();
                let args_size = args.iter().map(|(_, size)| size).sum();
                match self.call(e, &name, &mut args) {
                    Some(size) => return size,
                    None => args_size,
                }
            }
            ExprKind::Var(name) => {
                if let Some(f) = frame {
                    if let Some(theirs) = f.vars.get(name.as_str()) {
                        *name = theirs.clone();
                    } else if f.own.contains(name.as_str()) {
                        *name = format!("{}{name}", f.prefix);
                    }
                }
                0
            }
            ExprKind::Map { name, keys } => {
                let n = keys.iter_mut().map(|k| self.expr(frame, k)).sum();
                let Some(f) = frame else { return 1 + n };
                match f.maps.get(name.as_str()) {
                    Some(theirs) => *name = theirs.clone(),
                    None => self.diagnostics.push(
                        Diagnostic::error(
                            "E0153",
                            format!(
                                "macro `{}` uses map `{name}` without taking it as a parameter",
                                f.def.name
                            ),
                            e.span.clone(),
                        )
                        .with_label("not a parameter")
                        .with_help(format!(
                            "pass the map in: macro {}(..., {name}) {{ ... }}",
                            f.def.name
                        )),
                    ),
                }
                n
            }
            ExprKind::IncDec { target, .. } => {
                // `x++` on an expression parameter would change the caller's variable or map.
                if let (Some(f), ExprKind::Ident(name)) = (frame.as_ref(), &target.kind)
                    && f.exprs.contains_key(name.as_str())
                {
                    let d = Diagnostic::error(
                        "E0154",
                        format!("`{name}` is an expression parameter of macro `{}` and cannot be changed", f.def.name),
                        target.span.clone(),
                    )
                    .with_label("changed here")
                    .with_help(format!("take it as `${name}` or `@{name}` to change the caller's variable or map"));
                    self.diagnostics.push(d);
                    return 1;
                }
                self.expr(frame, target)
            }
            // `sizeof(e)` of an expression parameter `e` parses as the size of a type named `e`.
            ExprKind::SizeofType(ty) => {
                match frame.as_ref().and_then(|f| f.exprs.get(ty.base.as_str())) {
                    Some((arg, size)) if ty.pointers == 0 && ty.arrays.is_empty() => {
                        e.kind = ExprKind::SizeofExpr(Box::new(arg.clone()));
                        *size
                    }
                    _ => 0,
                }
            }
            ExprKind::Int(_)
            | ExprKind::Bool(_)
            | ExprKind::Str(_)
            | ExprKind::Positional(_)
            | ExprKind::PositionalCount
            | ExprKind::Offsetof { .. } => 0,
            ExprKind::Unary { expr, .. }
            | ExprKind::Cast { expr, .. }
            | ExprKind::SizeofExpr(expr)
            | ExprKind::Field { expr, .. } => self.expr(frame, expr),
            ExprKind::Index {
                expr: lhs,
                index: rhs,
            }
            | ExprKind::Binary { lhs, rhs, .. } => self.expr(frame, lhs) + self.expr(frame, rhs),
            ExprKind::Ternary { cond, then, els } => {
                self.expr(frame, cond) + self.expr(frame, then) + self.expr(frame, els)
            }
            ExprKind::Tuple(items) => items.iter_mut().map(|i| self.expr(frame, i)).sum(),
            ExprKind::Block { stmts, value, .. } => {
                self.stmts(frame, stmts) + value.as_mut().map_or(0, |v| self.expr(frame, v))
            }
        }
    }

    /// `e` calls `name` with `args` (already expanded, with their sizes), or is the identifier
    /// `name`: when a macro of that name takes these arguments, `e` becomes a copy of its
    /// expanded body, and the copy's size is returned.
    fn call(&mut self, e: &mut Expr, name: &str, args: &mut [(Expr, usize)]) -> Option<usize> {
        let kinds: Vec<ParamKind> = args.iter().map(|(a, _)| arg_kind(a)).collect();
        let def = match self.registry.lookup_kinds(name, &kinds) {
            _ if self.too_large => return None,
            Lookup::None => return None,
            Lookup::Found(def) => def,
            Lookup::Mismatch(closest) => {
                let d = mismatch(closest, name, args, &e.span);
                self.diagnostics.push(d);
                return None;
            }
        };
        if let Some(first) = self.stack.iter().position(|(m, _)| std::ptr::eq(*m, def)) {
            let chain: Vec<&str> = self.stack[first..]
                .iter()
                .map(|(m, _)| m.name.as_str())
                .chain([name])
                .collect();
            self.diagnostics.push(
                Diagnostic::error(
                    "E0155",
                    format!("macro `{name}` calls itself: {}", chain.join(" > ")),
                    e.span.clone(),
                )
                .with_label("called again here")
                .with_secondary(self.stack[first].1.clone(), "first called here")
                .with_secondary(def.name_span.clone(), "the macro")
                .with_help("macros are expanded where they are called, so they cannot recurse"),
            );
            return None;
        }
        if self.stack.len() == MAX_NESTING {
            self.diagnostics.push(
                Diagnostic::error(
                    "E0157",
                    format!("macro calls nest more than {MAX_NESTING} deep"),
                    e.span.clone(),
                )
                .with_label(format!("`{name}` called at depth {}", MAX_NESTING + 1))
                .with_secondary(self.stack[0].1.clone(), "the outermost call"),
            );
            return None;
        }
        let depth = self.stack.len() + 1;
        let mut frame = Frame {
            def,
            vars: HashMap::new(),
            maps: HashMap::new(),
            exprs: HashMap::new(),
            own: HashSet::new(),
            prefix: match depth {
                1 => format!("${}_", def.name),
                _ => format!("${}_{depth}_", def.name),
            },
        };
        for (param, (arg, size)) in def.params.iter().zip(args.iter_mut()) {
            match (&param.kind, &arg.kind) {
                (ParamKind::Var, ExprKind::Var(theirs)) => {
                    frame.vars.insert(param.name.clone(), theirs.clone());
                }
                (ParamKind::Map, ExprKind::Map { name: theirs, .. }) => {
                    frame.maps.insert(param.name.clone(), theirs.clone());
                }
                (ParamKind::Expr, _) => {
                    let arg = std::mem::replace(
                        arg,
                        Expr {
                            kind: ExprKind::Int(0),
                            span: 0..0,
                        },
                    );
                    frame.exprs.insert(param.name.clone(), (arg, *size));
                }
                _ => panic!("bug: lookup admitted a mismatched macro argument"),
            }
        }
        let mut body = def.body.clone();
        body.span = e.span.clone();
        self.stack.push((def, e.span.clone()));
        let size = self.expr(&mut Some(frame), &mut body);
        self.stack.pop();
        if size > MAX_NODES {
            self.too_large = true;
            self.diagnostics.push(
                Diagnostic::error(
                    "E0158",
                    format!("macro `{name}` expands to more than {MAX_NODES} nodes"),
                    e.span.clone(),
                )
                .with_label(format!("expands to {size} nodes"))
                .with_help("an expression parameter is copied to each of its uses; take the value in a variable once: `let $v = x;`"),
            );
            return None;
        }
        *e = match body.kind {
            // A body that is only a literal is that literal: `printf(fmt())` keeps its format.
            ExprKind::Block {
                stmts,
                value: Some(value),
                ..
            } if stmts.is_empty() && is_literal(&value) => *value,
            ExprKind::Block { stmts, value, .. } => Expr {
                kind: ExprKind::Block {
                    stmts,
                    value,
                    macro_call: Some(MacroCall {
                        name: name.to_string(),
                        span: e.span.clone(),
                    }),
                },
                span: body.span,
            },
            _ => panic!("bug: a macro body that is not a block"),
        };
        Some(size)
    }
}

/// No definition of `name` takes these arguments: say how the closest one differs.
fn mismatch(closest: &MacroDef, name: &str, args: &[(Expr, usize)], at: &Span) -> Diagnostic {
    let d = Diagnostic::error(
        "E0156",
        format!("no definition of macro `{name}` takes these arguments"),
        at.clone(),
    );
    if closest.params.len() != args.len() {
        let n = closest.params.len();
        return d
            .with_label(format!(
                "called with {} argument{}",
                args.len(),
                plural(args.len())
            ))
            .with_secondary(
                closest.name_span.clone(),
                format!("the closest definition takes {n} argument{}", plural(n)),
            );
    }
    let (param, (arg, _)) = closest
        .params
        .iter()
        .zip(args)
        .find(|(p, (a, _))| p.kind != ParamKind::Expr && p.kind != arg_kind(a))
        .expect("bug: a mismatch without a mismatched argument");
    d.with_label("called here")
        .with_secondary(
            arg.span.clone(),
            format!("this is {}", kind_words(arg_kind(arg))),
        )
        .with_secondary(
            param.span.clone(),
            format!(
                "the closest definition takes {} for `{}`",
                kind_words(param.kind),
                param_text(param)
            ),
        )
}

fn is_literal(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Int(_) | ExprKind::Bool(_) | ExprKind::Str(_) => true,
        ExprKind::Unary {
            op: UnOp::Neg,
            expr,
        } => matches!(expr.kind, ExprKind::Int(_)),
        _ => false,
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
