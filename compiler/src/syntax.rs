//! Source text to AST: runs the pest grammar (`rbt-grammar`) and converts its parse tree.
//!
//! The grammar parses expressions flat (`operand (infix operand)*`); C precedence is applied
//! here. Literal values (integers, string escapes) are checked here too, so that their errors
//! point at the literal. All wording of syntax errors is in `syntax/errors.rs`.

mod errors;
pub mod literal;

use crate::ast::*;
use crate::diag::Diagnostic;
use rbt_grammar::pest::Parser;
use rbt_grammar::{RbtParser, Rule};

type Pair<'i> = rbt_grammar::pest::iterators::Pair<'i, Rule>;

/// How deeply expressions and blocks may nest; deeper input is refused rather than risking the
/// stack in the recursive conversion and in later phases.
const MAX_DEPTH: usize = 200;

/// Parses a whole script. Never panics. On error returns diagnostics with spans.
pub fn parse(source: &str) -> Result<Script, Vec<Diagnostic>> {
    if let Some(diagnostic) = errors::too_deep(source, MAX_DEPTH) {
        return Err(vec![diagnostic]);
    }
    let program = match RbtParser::parse(Rule::program, source) {
        Ok(mut pairs) => pairs
            .next()
            .expect("bug: the program rule always yields one pair"),
        Err(error) => return Err(vec![errors::from_pest(&error, source)]),
    };
    let mut converter = Converter {
        diagnostics: Vec::new(),
    };
    let script = converter.script(program);
    if converter.diagnostics.is_empty() {
        Ok(script)
    } else {
        Err(converter.diagnostics)
    }
}

/// For the REPL: true when `source` failed to parse only because it ended too early (an open
/// block, an unterminated string or comment, a dangling operator), so more lines should be read.
pub fn is_incomplete(source: &str) -> bool {
    match RbtParser::parse(Rule::program, source) {
        Ok(_) => false,
        Err(error) => errors::ends_too_early(&error, source),
    }
}

/// A node's span. pest's span of a rule ending in `*` or `?` takes in the whitespace skipped
/// before the repetition that matched nothing, so the end is taken from the last child.
fn span_of(pair: &Pair) -> Span {
    let start = pair.as_span().start();
    match pair.clone().into_inner().last() {
        Some(last) => start..span_of(&last).end,
        None => start..pair.as_span().end(),
    }
}

/// Turns the parse tree into the AST, collecting errors about literals.
struct Converter {
    diagnostics: Vec<Diagnostic>,
}

impl Converter {
    fn script(&mut self, program: Pair) -> Script {
        let mut script = Script::default();
        for part in program.into_inner() {
            match part.as_rule() {
                Rule::action => script.actions.push(self.action(part)),
                Rule::config => script.config = config(part),
                Rule::map_decl => script.map_decls.push(map_decl(part)),
                Rule::c_definition | Rule::c_directive => script.c_definitions.push(CDefinition {
                    text: part.as_str().to_string(),
                    span: span_of(&part),
                }),
                Rule::macro_def => script.macros.push(self.macro_def(part)),
                _ => {}
            }
        }
        script
    }

    fn action(&mut self, pair: Pair) -> Action {
        let span = span_of(&pair);
        let mut probes = Vec::new();
        let mut predicate = None;
        let mut body = None;
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::probes => {
                    probes = part
                        .into_inner()
                        .filter(|p| p.as_rule() == Rule::probe)
                        .map(probe)
                        .collect()
                }
                Rule::predicate => predicate = Some(self.only_expr(part)),
                Rule::block => body = Some(self.block(part)),
                rule => panic!("bug: unexpected {rule:?} in an action"),
            }
        }
        Action {
            probes,
            predicate,
            body: body.expect("bug: an action without a block"),
            span,
        }
    }

    /// `macro name(params) { body }`
    fn macro_def(&mut self, pair: Pair) -> MacroDef {
        let span = span_of(&pair);
        let mut name = None;
        let mut params = Vec::new();
        let mut body = None;
        for part in pair.into_inner() {
            let part_span = span_of(&part);
            match part.as_rule() {
                Rule::ident => name = Some((part.as_str().to_string(), part_span)),
                Rule::macro_param => {
                    let part = part
                        .into_inner()
                        .next()
                        .expect("bug: an empty macro parameter");
                    let text = part.as_str();
                    let (kind, name) = match part.as_rule() {
                        Rule::var => (ParamKind::Var, &text[1..]),
                        Rule::map_name => (ParamKind::Map, text),
                        _ => (ParamKind::Expr, text),
                    };
                    params.push(MacroParam {
                        kind,
                        name: name.to_string(),
                        span: part_span,
                    });
                }
                Rule::block_expr => body = Some(self.block_expr(part)),
                _ => {}
            }
        }
        let (name, name_span) = name.expect("bug: a macro without a name");
        MacroDef {
            name,
            name_span,
            params,
            body: body.expect("bug: a macro without a body"),
            span,
        }
    }

    /// `{ statements; value }`: an expression statement that ends the block without a `;` after
    /// it is the block's value.
    fn block_expr(&mut self, pair: Pair) -> Expr {
        let span = span_of(&pair);
        let parts: Vec<Pair> = pair.into_inner().collect();
        let tail = match parts.as_slice() {
            [.., last, close]
                if last.as_rule() == Rule::expr_stmt && close.as_rule() == Rule::rbrace =>
            {
                Some(parts.len() - 2)
            }
            _ => None,
        };
        let mut stmts = Vec::new();
        let mut value = None;
        for (i, part) in parts.into_iter().enumerate() {
            if Some(i) == tail {
                value = Some(Box::new(self.only_expr(part)));
            } else if let Some(stmt) = self.stmt(part) {
                stmts.push(stmt);
            }
        }
        Expr {
            kind: ExprKind::Block {
                stmts,
                value,
                macro_call: None,
            },
            span,
        }
    }

    /// The one expression among a pair's children (the rest being punctuation).
    fn only_expr(&mut self, pair: Pair) -> Expr {
        let inner = pair
            .into_inner()
            .find(|p| matches!(p.as_rule(), Rule::expr | Rule::expr_ng))
            .expect("bug: no expression where the grammar requires one");
        self.expr(inner)
    }

    fn block(&mut self, pair: Pair) -> Block {
        let span = span_of(&pair);
        let stmts = pair.into_inner().filter_map(|p| self.stmt(p)).collect();
        Block { stmts, span }
    }

    /// A statement, or `None` for the punctuation between statements.
    fn stmt(&mut self, pair: Pair) -> Option<Stmt> {
        let span = span_of(&pair);
        let kind = match pair.as_rule() {
            Rule::expr_stmt | Rule::expr_stmt_ng => StmtKind::Expr(self.only_expr(pair)),
            Rule::assign | Rule::assign_ng => self.assign(pair),
            Rule::if_stmt => self.if_stmt(pair),
            Rule::let_stmt => {
                let mut name = String::new();
                let mut value = None;
                for part in pair.into_inner() {
                    match part.as_rule() {
                        Rule::var => name = part.as_str()[1..].to_string(),
                        Rule::expr => value = Some(self.expr(part)),
                        _ => {}
                    }
                }
                StmtKind::Let { name, value }
            }
            Rule::discard_stmt => StmtKind::Expr(self.only_expr(pair)),
            Rule::break_stmt => StmtKind::Break,
            Rule::continue_stmt => StmtKind::Continue,
            Rule::while_stmt | Rule::unroll_stmt => {
                let is_while = pair.as_rule() == Rule::while_stmt;
                let mut head = None;
                let mut body = None;
                for part in pair.into_inner() {
                    match part.as_rule() {
                        Rule::expr => head = Some(self.expr(part)),
                        Rule::block => body = Some(self.block(part)),
                        _ => {}
                    }
                }
                let head = head.expect("bug: loop without its expression");
                let body = body.expect("bug: loop without block");
                if is_while {
                    StmtKind::While { cond: head, body }
                } else {
                    StmtKind::Unroll { count: head, body }
                }
            }
            Rule::for_stmt => self.for_stmt(pair),
            Rule::block_expr => StmtKind::Expr(self.block_expr(pair)),
            Rule::return_stmt => StmtKind::Return(
                pair.into_inner()
                    .find(|p| p.as_rule() == Rule::expr)
                    .map(|e| self.expr(e)),
            ),
            Rule::lbrace | Rule::rbrace | Rule::langle | Rule::rangle | Rule::semi => return None,
            rule => panic!("bug: unexpected {rule:?} in a block"),
        };
        Some(Stmt { kind, span })
    }

    fn assign(&mut self, pair: Pair) -> StmtKind {
        let mut inner = pair.into_inner();
        let target = self.primary(inner.next().expect("bug: assignment without target"));
        let op_text = inner
            .next()
            .expect("bug: assignment without operator")
            .as_str();
        let op = match op_text.strip_suffix('=').unwrap_or(op_text) {
            "" => None,
            text => Some(bin_op(text)),
        };
        let value = self.expr(inner.next().expect("bug: assignment without value"));
        StmtKind::Assign { target, op, value }
    }

    fn for_stmt(&mut self, pair: Pair) -> StmtKind {
        let mut var = None;
        let mut exprs = Vec::new();
        let mut body = None;
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::var => var = Some((part.as_str()[1..].to_string(), span_of(&part))),
                Rule::expr => exprs.push(self.expr(part)),
                Rule::block => body = Some(self.block(part)),
                _ => {}
            }
        }
        let (var, var_span) = var.expect("bug: for without variable");
        let mut exprs = exprs.into_iter();
        let first = exprs.next().expect("bug: for without iterable");
        let iter = match exprs.next() {
            Some(end) => ForIter::Range { start: first, end },
            None => ForIter::Map(first),
        };
        StmtKind::For {
            var,
            var_span,
            iter,
            body: body.expect("bug: for without block"),
        }
    }

    fn if_stmt(&mut self, pair: Pair) -> StmtKind {
        let mut cond = None;
        let mut then = None;
        let mut els = None;
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::expr => cond = Some(self.expr(part)),
                Rule::block if then.is_none() => then = Some(self.block(part)),
                Rule::block => els = Some(self.block(part)),
                // `else if`: the nested `if` alone in the else block.
                Rule::if_stmt => {
                    let span = span_of(&part);
                    let kind = self.if_stmt(part);
                    els = Some(Block {
                        stmts: vec![Stmt {
                            kind,
                            span: span.clone(),
                        }],
                        span,
                    });
                }
                _ => {}
            }
        }
        StmtKind::If {
            cond: cond.expect("bug: if without condition"),
            then: then.expect("bug: if without block"),
            els,
        }
    }

    /// `expr` or `expr_ng`: a binary chain, maybe the condition of a ternary.
    fn expr(&mut self, pair: Pair) -> Expr {
        let span = span_of(&pair);
        let mut parts = pair
            .into_inner()
            .filter(|p| !matches!(p.as_rule(), Rule::question | Rule::colon));
        let cond = self.binary(parts.next().expect("bug: empty expression"));
        let Some(then) = parts.next() else {
            return cond;
        };
        let then = self.expr(then);
        let els = self.expr(parts.next().expect("bug: ternary without else"));
        Expr {
            kind: ExprKind::Ternary {
                cond: Box::new(cond),
                then: Box::new(then),
                els: Box::new(els),
            },
            span,
        }
    }

    /// Applies C precedence to `operand (infix operand)*`; every operator is left associative.
    fn binary(&mut self, pair: Pair) -> Expr {
        let mut operands = Vec::new();
        let mut pending: Vec<BinOp> = Vec::new();
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::unary => operands.push(self.unary(part)),
                Rule::infix | Rule::infix_ng => {
                    let op = bin_op(part.as_str());
                    while pending
                        .last()
                        .is_some_and(|top| precedence(*top) >= precedence(op))
                    {
                        reduce(&mut operands, &mut pending);
                    }
                    pending.push(op);
                }
                rule => panic!("bug: unexpected {rule:?} in a binary chain"),
            }
        }
        while !pending.is_empty() {
            reduce(&mut operands, &mut pending);
        }
        operands.pop().expect("bug: binary chain without operand")
    }

    fn unary(&mut self, pair: Pair) -> Expr {
        let span = span_of(&pair);
        let mut inner = pair.into_inner();
        let first = inner.next().expect("bug: empty unary");
        if first.as_rule() == Rule::postfix {
            return self.postfix(first);
        }
        let operand = Box::new(self.unary(inner.next().expect("bug: prefix without operand")));
        let kind = match first.as_str() {
            "++" | "--" => ExprKind::IncDec {
                target: operand,
                increment: first.as_str() == "++",
                prefix: true,
            },
            "-" => ExprKind::Unary {
                op: UnOp::Neg,
                expr: operand,
            },
            "!" => ExprKind::Unary {
                op: UnOp::Not,
                expr: operand,
            },
            "~" => ExprKind::Unary {
                op: UnOp::BitNot,
                expr: operand,
            },
            "*" => ExprKind::Unary {
                op: UnOp::Deref,
                expr: operand,
            },
            "&" => ExprKind::Unary {
                op: UnOp::AddrOf,
                expr: operand,
            },
            _ => {
                let c_type = first
                    .into_inner()
                    .next()
                    .and_then(|cast| cast.into_inner().find(|p| p.as_rule() == Rule::c_type))
                    .expect("bug: prefix operator is neither a symbol nor a cast");
                ExprKind::Cast {
                    ty_span: span_of(&c_type),
                    ty: type_name(c_type),
                    expr: operand,
                }
            }
        };
        Expr { kind, span }
    }

    fn postfix(&mut self, pair: Pair) -> Expr {
        let mut inner = pair.into_inner();
        let mut expr = self.primary(inner.next().expect("bug: postfix without primary"));
        for op in inner {
            let span = expr.span.start..span_of(&op).end;
            let op = op.into_inner().next().expect("bug: empty postfix operator");
            let kind = match op.as_rule() {
                Rule::post_incdec => ExprKind::IncDec {
                    target: Box::new(expr),
                    increment: op.as_str() == "++",
                    prefix: false,
                },
                Rule::field => {
                    let name = op
                        .into_inner()
                        .next()
                        .expect("bug: field access without a name");
                    ExprKind::Field {
                        expr: Box::new(expr),
                        field: name.as_str().to_string(),
                        field_span: span_of(&name),
                    }
                }
                Rule::index => ExprKind::Index {
                    expr: Box::new(expr),
                    index: Box::new(self.only_expr(op)),
                },
                rule => panic!("bug: unexpected postfix operator {rule:?}"),
            };
            expr = Expr { kind, span };
        }
        expr
    }

    fn primary(&mut self, pair: Pair) -> Expr {
        let span = span_of(&pair);
        let text = pair.as_str();
        let kind = match pair.as_rule() {
            Rule::int => match literal::integer(text) {
                Ok(value) => ExprKind::Int(value),
                Err(problem) => {
                    self.diagnostics
                        .push(errors::bad_integer(problem, text, span.clone()));
                    ExprKind::Int(0)
                }
            },
            Rule::boolean => ExprKind::Bool(text == "true"),
            Rule::string => {
                let body = pair
                    .into_inner()
                    .find(|p| p.as_rule() == Rule::string_body)
                    .expect("bug: string without body");
                let body_start = body.as_span().start();
                match literal::string(body.as_str()) {
                    Ok(bytes) => ExprKind::Str(bytes),
                    Err(escape) => {
                        let at = body_start + escape.start..body_start + escape.end;
                        let text = &body.as_str()[escape];
                        self.diagnostics.push(errors::bad_escape(text, at));
                        ExprKind::Str(Vec::new())
                    }
                }
            }
            Rule::call => {
                let mut inner = pair.into_inner();
                let name = inner.next().expect("bug: call without name");
                let args = inner
                    .filter(|p| p.as_rule() == Rule::expr)
                    .map(|p| self.expr(p))
                    .collect();
                ExprKind::Call {
                    name: name.as_str().to_string(),
                    name_span: span_of(&name),
                    args,
                }
            }
            Rule::positional if text == "$#" => ExprKind::PositionalCount,
            Rule::positional => match text[1..].parse() {
                Ok(index) => ExprKind::Positional(index),
                Err(_) => {
                    self.diagnostics
                        .push(errors::bad_positional(text, span.clone()));
                    ExprKind::Positional(0)
                }
            },
            Rule::var => ExprKind::Var(text[1..].to_string()),
            Rule::map => {
                let mut inner = pair.into_inner();
                let name = inner.next().expect("bug: map without name").as_str();
                let keys = inner
                    .filter(|p| p.as_rule() == Rule::expr)
                    .map(|p| self.expr(p))
                    .collect();
                ExprKind::Map {
                    name: name.to_string(),
                    keys,
                }
            }
            // The parentheses belong to the node: `(1 + 2) * 3` spans all of its text.
            Rule::paren => {
                return Expr {
                    span,
                    ..self.only_expr(pair)
                };
            }
            Rule::tuple => ExprKind::Tuple(
                pair.into_inner()
                    .filter(|p| p.as_rule() == Rule::expr)
                    .map(|p| self.expr(p))
                    .collect(),
            ),
            Rule::ident => ExprKind::Ident(text.to_string()),
            Rule::sizeof => {
                let arg = pair
                    .into_inner()
                    .find(|p| matches!(p.as_rule(), Rule::c_type | Rule::expr))
                    .expect("bug: sizeof without argument");
                match arg.as_rule() {
                    Rule::c_type => ExprKind::SizeofType(type_name(arg)),
                    _ => ExprKind::SizeofExpr(Box::new(self.expr(arg))),
                }
            }
            Rule::offsetof => {
                let mut ty = None;
                let mut fields = Vec::new();
                for part in pair.into_inner() {
                    match part.as_rule() {
                        Rule::c_type => ty = Some(type_name(part)),
                        Rule::field_name => fields.push(part.as_str().to_string()),
                        _ => {}
                    }
                }
                ExprKind::Offsetof {
                    ty: ty.expect("bug: offsetof without type"),
                    fields,
                }
            }
            Rule::block_expr => return self.block_expr(pair),
            rule => panic!("bug: unexpected primary {rule:?}"),
        };
        Expr { kind, span }
    }
}

/// `config = { key = value; ... }`
fn config(pair: Pair) -> Vec<ConfigItem> {
    pair.into_inner()
        .filter(|p| p.as_rule() == Rule::config_item)
        .map(|item| {
            let span = span_of(&item);
            let mut key = String::new();
            let mut value = String::new();
            for part in item.into_inner() {
                match part.as_rule() {
                    Rule::ident => key = part.as_str().to_string(),
                    Rule::config_value => {
                        let text = part.as_str();
                        value = text
                            .strip_prefix('"')
                            .and_then(|t| t.strip_suffix('"'))
                            .unwrap_or(text)
                            .to_string();
                    }
                    _ => {}
                }
            }
            ConfigItem { key, value, span }
        })
        .collect()
}

/// `let @name = kind(size);`
fn map_decl(pair: Pair) -> MapDecl {
    let span = span_of(&pair);
    let mut decl = MapDecl {
        name: String::new(),
        kind: String::new(),
        size: None,
        span,
    };
    for part in pair.into_inner() {
        match part.as_rule() {
            Rule::map_name => decl.name = part.as_str().to_string(),
            Rule::ident => decl.kind = part.as_str().to_string(),
            Rule::int => decl.size = literal::integer(part.as_str()).ok(),
            _ => {}
        }
    }
    decl
}

fn probe(pair: Pair) -> ProbeSpec {
    let span = span_of(&pair);
    let text = pair.as_str().to_string();
    let mut inner = pair.into_inner();
    let provider = inner
        .next()
        .expect("bug: probe without provider")
        .as_str()
        .to_string();
    let parts = inner.map(|p| p.as_str().to_string()).collect();
    ProbeSpec {
        provider,
        parts,
        text,
        span,
    }
}

/// Pops the last operator and its two operands, pushing the combined expression.
fn reduce(operands: &mut Vec<Expr>, pending: &mut Vec<BinOp>) {
    let op = pending.pop().expect("bug: reduce without operator");
    let rhs = operands.pop().expect("bug: operator without right operand");
    let lhs = operands.pop().expect("bug: operator without left operand");
    let span = lhs.span.start..rhs.span.end;
    operands.push(Expr {
        kind: ExprKind::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        },
        span,
    });
}

fn bin_op(text: &str) -> BinOp {
    match text {
        "+" => BinOp::Add,
        "-" => BinOp::Sub,
        "*" => BinOp::Mul,
        "/" => BinOp::Div,
        "%" => BinOp::Mod,
        "&" => BinOp::BitAnd,
        "|" => BinOp::BitOr,
        "^" => BinOp::BitXor,
        "<<" => BinOp::Shl,
        ">>" => BinOp::Shr,
        "==" => BinOp::Eq,
        "!=" => BinOp::Ne,
        "<" => BinOp::Lt,
        "<=" => BinOp::Le,
        ">" => BinOp::Gt,
        ">=" => BinOp::Ge,
        "&&" => BinOp::And,
        "||" => BinOp::Or,
        _ => panic!("bug: unknown binary operator {text:?}"),
    }
}

/// C precedence, higher binds tighter.
fn precedence(op: BinOp) -> u8 {
    match op {
        BinOp::Or => 1,
        BinOp::And => 2,
        BinOp::BitOr => 3,
        BinOp::BitXor => 4,
        BinOp::BitAnd => 5,
        BinOp::Eq | BinOp::Ne => 6,
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => 7,
        BinOp::Shl | BinOp::Shr => 8,
        BinOp::Add | BinOp::Sub => 9,
        BinOp::Mul | BinOp::Div | BinOp::Mod => 10,
    }
}

/// A `c_type`: its base words, stars and array suffixes.
fn type_name(pair: Pair) -> TypeName {
    let mut name = TypeName {
        base: String::new(),
        pointers: 0,
        arrays: Vec::new(),
    };
    for part in pair.into_inner() {
        match part.as_rule() {
            Rule::c_type_base => {
                name.base = part
                    .as_str()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            }
            Rule::c_star => name.pointers += 1,
            Rule::c_array => {
                let digits = part.as_str().trim_matches(|c: char| !c.is_ascii_digit());
                name.arrays.push(digits.parse().ok());
            }
            rule => panic!("bug: unexpected {rule:?} in a type"),
        }
    }
    name
}
