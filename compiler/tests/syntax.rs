//! Parser tests: scripts against a compact S-expression print of their AST, spans of
//! selected nodes, `is_incomplete`, and (in `syntax/errors/`) rendered diagnostics.

use rbt_compiler::ast::*;
use rbt_compiler::{diag, macros, syntax};
use std::fmt::Write;
use std::path::Path;

// ---- A compact printer for the AST ------------------------------------------------------------

fn script(s: &Script) -> String {
    let macros = s.macros.iter().map(macro_def);
    macros
        .chain(s.actions.iter().map(action))
        .collect::<Vec<_>>()
        .join("\n")
}

fn macro_def(m: &MacroDef) -> String {
    let params: Vec<String> = m
        .params
        .iter()
        .map(|p| match p.kind {
            ParamKind::Var => format!("${}", p.name),
            ParamKind::Map | ParamKind::Expr => p.name.clone(),
        })
        .collect();
    format!(
        "(macro {} ({}) {})",
        m.name,
        params.join(" "),
        expr(&m.body)
    )
}

fn action(a: &Action) -> String {
    let probes: Vec<String> = a.probes.iter().map(probe).collect();
    let mut out = probes.join(",");
    if let Some(p) = &a.predicate {
        write!(out, " /{}/", expr(p)).unwrap();
    }
    write!(out, " {}", block(&a.body)).unwrap();
    out
}

fn probe(p: &ProbeSpec) -> String {
    let mut out = p.provider.clone();
    for part in &p.parts {
        write!(out, " {part:?}").unwrap();
    }
    format!("({out})")
}

fn block(b: &Block) -> String {
    let stmts: Vec<String> = b.stmts.iter().map(stmt).collect();
    format!("{{{}}}", stmts.join(" "))
}

fn stmt(s: &Stmt) -> String {
    match &s.kind {
        StmtKind::Expr(e) => expr(e),
        StmtKind::Assign { target, op, value } => {
            let op = op.map_or(String::new(), bin_op);
            format!("({op}= {} {})", expr(target), expr(value))
        }
        StmtKind::If { cond, then, els } => match els {
            Some(els) => format!("(if {} {} {})", expr(cond), block(then), block(els)),
            None => format!("(if {} {})", expr(cond), block(then)),
        },
        StmtKind::Let {
            name,
            value: Some(v),
        } => format!("(let ${name} {})", expr(v)),
        StmtKind::Let { name, value: None } => format!("(let ${name})"),
        StmtKind::Return(Some(v)) => format!("(return {})", expr(v)),
        StmtKind::Return(None) => "(return)".to_string(),
        StmtKind::While { cond, body } => format!("(while {} {})", expr(cond), block(body)),
        StmtKind::Unroll { count, body } => format!("(unroll {} {})", expr(count), block(body)),
        StmtKind::For {
            var, iter, body, ..
        } => match iter {
            ForIter::Map(map) => format!("(for ${var} {} {})", expr(map), block(body)),
            ForIter::Range { start, end } => format!(
                "(for ${var} (.. {} {}) {})",
                expr(start),
                expr(end),
                block(body)
            ),
        },
        StmtKind::Break => "(break)".to_string(),
        StmtKind::Continue => "(continue)".to_string(),
    }
}

fn bin_op(op: BinOp) -> String {
    let text = match op {
        BinOp::Add => "+",
        BinOp::Sub => "-",
        BinOp::Mul => "*",
        BinOp::Div => "/",
        BinOp::Mod => "%",
        BinOp::BitAnd => "&",
        BinOp::BitOr => "|",
        BinOp::BitXor => "^",
        BinOp::Shl => "<<",
        BinOp::Shr => ">>",
        BinOp::Eq => "==",
        BinOp::Ne => "!=",
        BinOp::Lt => "<",
        BinOp::Le => "<=",
        BinOp::Gt => ">",
        BinOp::Ge => ">=",
        BinOp::And => "&&",
        BinOp::Or => "||",
    };
    text.to_string()
}

fn type_name(t: &TypeName) -> String {
    let arrays: String = t
        .arrays
        .iter()
        .map(|n| format!("[{}]", n.map_or(String::new(), |n| n.to_string())))
        .collect();
    format!("{}{}{arrays}", t.base, "*".repeat(t.pointers))
}

fn exprs(list: &[Expr]) -> String {
    list.iter().map(expr).collect::<Vec<_>>().join(" ")
}

fn expr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Int(v) => v.to_string(),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Str(bytes) => format!("{:?}", String::from_utf8_lossy(bytes)),
        ExprKind::Ident(name) => name.clone(),
        ExprKind::Var(name) => format!("${name}"),
        ExprKind::Positional(n) => format!("${n}"),
        ExprKind::PositionalCount => "$#".to_string(),
        ExprKind::Map { name, keys } if keys.is_empty() => name.clone(),
        ExprKind::Map { name, keys } => format!("({name} {})", exprs(keys)),
        ExprKind::Call { name, args, .. } if args.is_empty() => format!("({name})"),
        ExprKind::Call { name, args, .. } => format!("({name} {})", exprs(args)),
        ExprKind::Unary { op, expr: inner } => {
            let op = match op {
                UnOp::Neg => "-",
                UnOp::Not => "!",
                UnOp::BitNot => "~",
                UnOp::Deref => "*",
                UnOp::AddrOf => "&",
            };
            format!("({op} {})", expr(inner))
        }
        ExprKind::Binary { op, lhs, rhs } => {
            format!("({} {} {})", bin_op(*op), expr(lhs), expr(rhs))
        }
        ExprKind::Ternary { cond, then, els } => {
            format!("(? {} {} {})", expr(cond), expr(then), expr(els))
        }
        ExprKind::Cast {
            ty, expr: inner, ..
        } => {
            format!("(cast {} {})", type_name(ty), expr(inner))
        }
        ExprKind::Index { expr: inner, index } => format!("([] {} {})", expr(inner), expr(index)),
        ExprKind::SizeofType(ty) => format!("(sizeof {})", type_name(ty)),
        ExprKind::SizeofExpr(inner) => format!("(sizeof {})", expr(inner)),
        ExprKind::Offsetof { ty, fields } => {
            format!("(offsetof {} {})", type_name(ty), fields.join("."))
        }
        ExprKind::Field {
            expr: inner, field, ..
        } => format!("(. {} {field})", expr(inner)),
        ExprKind::Tuple(items) => format!("(tuple {})", exprs(items)),
        ExprKind::Block {
            stmts,
            value,
            macro_call,
        } => {
            // A macro's expanded body shows the macro's name: `{inc: ...}`.
            let mut parts: Vec<String> =
                macro_call.iter().map(|c| format!("{}:", c.name)).collect();
            parts.extend(stmts.iter().map(stmt));
            if let Some(v) = value {
                parts.push(format!("=> {}", expr(v)));
            }
            format!("{{{}}}", parts.join(" "))
        }
        ExprKind::IncDec {
            target,
            increment,
            prefix,
        } => {
            let op = if *increment { "++" } else { "--" };
            match prefix {
                true => format!("({op}pre {})", expr(target)),
                false => format!("({op}post {})", expr(target)),
            }
        }
    }
}

// ---- Helpers ----------------------------------------------------------------------------------

fn parse_ok(source: &str) -> Script {
    match syntax::parse(source) {
        Ok(s) => s,
        Err(d) => panic!(
            "{source:?} did not parse:\n{}",
            diag::render(&d, "test.rbt", source, false)
        ),
    }
}

/// Each case is a script and the expected print of its AST.
fn check(cases: &[(&str, &str)]) {
    let mut failures = String::new();
    for (source, expected) in cases {
        let got = match syntax::parse(source) {
            Ok(s) => script(&s),
            Err(d) => diag::render(&d, "test.rbt", source, false),
        };
        if got != *expected {
            writeln!(
                failures,
                "{source:?}\n  expected: {expected}\n  got:      {got}"
            )
            .unwrap();
        }
    }
    assert!(failures.is_empty(), "\n{failures}");
}

/// Each case is an expression and its print; the expression is parsed as the only statement
/// of a `begin` block.
fn check_exprs(cases: &[(&str, &str)]) {
    let cases: Vec<(String, String)> = cases
        .iter()
        .map(|(e, expected)| {
            (
                format!("begin {{ {e} }}"),
                format!("(begin) {{{expected}}}"),
            )
        })
        .collect();
    let cases: Vec<(&str, &str)> = cases
        .iter()
        .map(|(s, e)| (s.as_str(), e.as_str()))
        .collect();
    check(&cases);
}

/// The one statement's expression in `begin { <e> }`.
fn first_expr(script: &Script) -> &Expr {
    match &script.actions[0].body.stmts[0].kind {
        StmtKind::Expr(e) => e,
        StmtKind::Assign { value, .. } => value,
        StmtKind::If { cond, .. } => cond,
        StmtKind::Let { value: Some(v), .. } | StmtKind::Return(Some(v)) => v,
        other => panic!("no expression in {other:?}"),
    }
}

#[test]
fn preamble_and_keyword_statements() {
    let script = syntax::parse(
        "config = { max_strlen = 8; print_maps_on_exit = false } let @m = lruhash(100);\n\
         begin { let $a; let $b = 1 + 2; return; return $#; }",
    )
    .unwrap();
    assert_eq!(script.config.len(), 2);
    assert_eq!(
        (
            script.config[0].key.as_str(),
            script.config[0].value.as_str()
        ),
        ("max_strlen", "8")
    );
    assert_eq!(script.map_decls[0].name, "@m");
    assert_eq!(script.map_decls[0].kind, "lruhash");
    assert_eq!(script.map_decls[0].size, Some(100));
    assert_eq!(
        block(&script.actions[0].body),
        "{(let $a) (let $b (+ 1 2)) (return) (return $#)}"
    );
}

// ---- Probes -----------------------------------------------------------------------------------

#[test]
fn probe_forms() {
    check(&[
        ("begin {}", "(begin) {}"),
        ("end {}", "(end) {}"),
        ("BEGIN {}", "(BEGIN) {}"),
        ("END{}", "(END) {}"),
        (
            "tracepoint:syscalls:sys_enter_openat {}",
            r#"(tracepoint "syscalls" "sys_enter_openat") {}"#,
        ),
        (
            "t:syscalls:sys_enter_* {}",
            r#"(t "syscalls" "sys_enter_*") {}"#,
        ),
        ("t:sys?alls:*open* {}", r#"(t "sys?alls" "*open*") {}"#),
        ("kprobe:tcp_connect {}", r#"(kprobe "tcp_connect") {}"#),
        ("kprobe:tcp_connect+8 {}", r#"(kprobe "tcp_connect+8") {}"#),
        ("kr:f {}", r#"(kr "f") {}"#),
        (
            "uprobe:/bin/bash:readline {}",
            r#"(uprobe "/bin/bash" "readline") {}"#,
        ),
        (
            "u:/lib/x86_64-linux-gnu/libc.so.6:malloc {}",
            r#"(u "/lib/x86_64-linux-gnu/libc.so.6" "malloc") {}"#,
        ),
        ("interval:s:1 {}", r#"(interval "s" "1") {}"#),
        ("interval:ms:100 {}", r#"(interval "ms" "100") {}"#),
        ("i:s:1 {}", r#"(i "s" "1") {}"#),
        ("profile:hz:99 {}", r#"(profile "hz" "99") {}"#),
        ("p:hz:99 {}", r#"(p "hz" "99") {}"#),
        (
            "software:cpu-clock:1000 {}",
            r#"(software "cpu-clock" "1000") {}"#,
        ),
        ("software:faults: {}", r#"(software "faults" "") {}"#),
        ("uprobe:bin@file:$1 {}", r#"(uprobe "bin@file" "$1") {}"#),
    ]);
}

#[test]
fn probe_text_and_spans() {
    let source = "  kprobe:a,\n kr:b /pid/ { }";
    let s = parse_ok(source);
    let a = &s.actions[0];
    assert_eq!(a.probes.len(), 2);
    assert_eq!(a.probes[0].text, "kprobe:a");
    assert_eq!(a.probes[0].span, 2..10);
    assert_eq!(a.probes[1].text, "kr:b");
    assert_eq!(&source[a.probes[1].span.clone()], "kr:b");
    assert_eq!(&source[a.span.clone()], "kprobe:a,\n kr:b /pid/ { }");
    assert_eq!(&source[a.body.span.clone()], "{ }");
    assert_eq!(&source[a.predicate.as_ref().unwrap().span.clone()], "pid");
}

#[test]
fn multi_probe_actions_with_predicates() {
    check(&[
        (
            "kprobe:a, kprobe:b /pid == 1/ { @[probe] = count(); }",
            r#"(kprobe "a"),(kprobe "b") /(== pid 1)/ {(= (@ probe) (count))}"#,
        ),
        (
            "t:syscalls:sys_enter_openat /comm == \"bash\"/ { printf(\"%s\\n\", str(args.filename)) }",
            r#"(t "syscalls" "sys_enter_openat") /(== comm "bash")/ {(printf "%s\n" (str (. args filename)))}"#,
        ),
        // Division inside a predicate: the last `/` closes it.
        ("begin /$x / 2 > 1/ {}", "(begin) /(> (/ $x 2) 1)/ {}"),
        (
            "begin { } end { exit() }\ninterval:s:1 { @n++ }",
            "(begin) {}\n(end) {(exit)}\n(interval \"s\" \"1\") {(++post @n)}",
        ),
    ]);
}

// ---- Blocks, statements ------------------------------------------------------------------------

#[test]
fn angle_blocks() {
    check(&[
        (
            "kprobe:tcp_connect < @[comm] = count(); >",
            r#"(kprobe "tcp_connect") {(= (@ comm) (count))}"#,
        ),
        (
            "kprobe:tcp_connect < @[comm] = count() >",
            r#"(kprobe "tcp_connect") {(= (@ comm) (count))}"#,
        ),
        (
            "begin < if ($x > 1) { @a = 1 } >",
            "(begin) {(if (> $x 1) {(= @a 1)})}",
        ),
        ("begin < @b = 3 >> 1; >", "(begin) {(= @b (>> 3 1))}"),
        ("begin < @b = 3 >= 1; >", "(begin) {(= @b (>= 3 1))}"),
        ("begin < @c = args->x; >", "(begin) {(= @c (. args x))}"),
        ("begin < @c = args->x >", "(begin) {(= @c (. args x))}"),
        ("begin < @d = $x > 1; >", "(begin) {(= @d (> $x 1))}"),
        ("begin < @d = $x > 1 >", "(begin) {(= @d (> $x 1))}"),
        ("begin < @e = ($x > 1) >", "(begin) {(= @e (> $x 1))}"),
        ("begin < @f >>= 2 >", "(begin) {(>>= @f 2)}"),
        ("begin < @g++ >", "(begin) {(++post @g)}"),
        ("begin < >", "(begin) {}"),
        ("begin <;;>", "(begin) {}"),
        (
            "begin < if ($a) { @x = 1 } else { @x = 2 } >",
            "(begin) {(if $a {(= @x 1)} {(= @x 2)})}",
        ),
        // A `>` that ends a block before the next action's probe.
        (
            "kprobe:f < @x = 1 > kprobe:g < @y = count() > end { }",
            "(kprobe \"f\") {(= @x 1)}\n(kprobe \"g\") {(= @y (count))}\n(end) {}",
        ),
        (
            "kprobe:f < @x = $y > begin { }",
            "(kprobe \"f\") {(= @x $y)}\n(begin) {}",
        ),
        // Blocks of either kind nest.
        (
            "begin { if ($a) < @x = 1 > }",
            "(begin) {(if $a {(= @x 1)})}",
        ),
    ]);
}

#[test]
fn statements_and_separators() {
    check(&[
        ("begin { ; ; }", "(begin) {}"),
        ("begin { @x = 1; @y = 2 }", "(begin) {(= @x 1) (= @y 2)}"),
        ("begin { @x = 1; @y = 2; }", "(begin) {(= @x 1) (= @y 2)}"),
        ("begin { @x = 1;; @y = 2;; }", "(begin) {(= @x 1) (= @y 2)}"),
        (
            "begin { if ($a) { } @x = 1 }",
            "(begin) {(if $a {}) (= @x 1)}",
        ),
        ("begin { $x = 1 }", "(begin) {(= $x 1)}"),
        ("begin { @m[1, 2] = 3 }", "(begin) {(= (@m 1 2) 3)}"),
        ("begin { @ = 1 }", "(begin) {(= @ 1)}"),
        ("begin { @x == 1 }", "(begin) {(== @x 1)}"),
        (
            "begin { $x++; ++$x; @y--; --@y[1] }",
            "(begin) {(++post $x) (++pre $x) (--post @y) (--pre (@y 1))}",
        ),
    ]);
}

#[test]
fn assignment_operators() {
    check_exprs(&[
        ("@x = 1", "(= @x 1)"),
        ("@x += 1", "(+= @x 1)"),
        ("@x -= 1", "(-= @x 1)"),
        ("@x *= 1", "(*= @x 1)"),
        ("@x /= 1", "(/= @x 1)"),
        ("@x %= 1", "(%= @x 1)"),
        ("@x &= 1", "(&= @x 1)"),
        ("@x |= 1", "(|= @x 1)"),
        ("@x ^= 1", "(^= @x 1)"),
        ("@x <<= 1", "(<<= @x 1)"),
        ("@x >>= 1", "(>>= @x 1)"),
        ("$x += $y * 2", "(+= $x (* $y 2))"),
        ("@x[pid] += 1 == 1", "(+= (@x pid) (== 1 1))"),
    ]);
}

#[test]
fn if_else_chains() {
    check(&[
        ("begin { if (1) { @a = 1 } }", "(begin) {(if 1 {(= @a 1)})}"),
        (
            "begin { if ($x == 1) { @a = 1 } else { @a = 2 } }",
            "(begin) {(if (== $x 1) {(= @a 1)} {(= @a 2)})}",
        ),
        (
            "begin { if ($x) { @a = 1 } else if ($y) { @a = 2 } else if ($z) { } else { @a = 3; } }",
            "(begin) {(if $x {(= @a 1)} {(if $y {(= @a 2)} {(if $z {} {(= @a 3)})})})}",
        ),
        ("begin{if(1){}else{}}", "(begin) {(if 1 {} {})}"),
        // Identifiers that start with a keyword.
        ("begin { iffy(elsewhere) }", "(begin) {(iffy elsewhere)}"),
    ]);
}

#[test]
fn loops() {
    check(&[
        (
            "begin { while ($i < 5) { $i++; break; continue } }",
            "(begin) {(while (< $i 5) {(++post $i) (break) (continue)})}",
        ),
        (
            "begin { unroll(3) { @x++ } unroll ($1) { } }",
            "(begin) {(unroll 3 {(++post @x)}) (unroll $1 {})}",
        ),
        (
            "begin { for ($kv : @m) { print($kv.0); } }",
            "(begin) {(for $kv @m {(print (. $kv 0))})}",
        ),
        (
            "begin { for ($i : 0..5) { } for ($i : (-3)..$n) { } for ($i : (1+1)..@m[5]) { } }",
            "(begin) {(for $i (.. 0 5) {}) (for $i (.. (- 3) $n) {}) (for $i (.. (+ 1 1) (@m 5)) {})}",
        ),
        // No `;` is needed after a loop's block.
        (
            "begin { while (1) { } printf(\"x\") }",
            "(begin) {(while 1 {}) (printf \"x\")}",
        ),
    ]);
}

#[test]
fn else_if_block_spans_the_nested_if() {
    let source = "begin { if (1) { } else if (2) { } }";
    let s = parse_ok(source);
    let StmtKind::If { els: Some(els), .. } = &s.actions[0].body.stmts[0].kind else {
        panic!("not an if with else");
    };
    assert_eq!(&source[els.span.clone()], "if (2) { }");
    assert_eq!(&source[els.stmts[0].span.clone()], "if (2) { }");
    assert_eq!(
        &source[s.actions[0].body.stmts[0].span.clone()],
        "if (1) { } else if (2) { }"
    );
}

// ---- Expressions -------------------------------------------------------------------------------

#[test]
fn precedence() {
    check_exprs(&[
        ("1 + 2 * 3", "(+ 1 (* 2 3))"),
        ("1 * 2 + 3", "(+ (* 1 2) 3)"),
        ("1 - 2 - 3", "(- (- 1 2) 3)"),
        ("8 / 4 / 2 % 3", "(% (/ (/ 8 4) 2) 3)"),
        ("a << 1 + 1", "(<< a (+ 1 1))"),
        ("a >> 1 < b", "(< (>> a 1) b)"),
        ("a < b == c > d", "(== (< a b) (> c d))"),
        ("a == b && c", "(&& (== a b) c)"),
        ("a || b && c", "(|| a (&& b c))"),
        ("a && b || c && d", "(|| (&& a b) (&& c d))"),
        ("a | b ^ c & d", "(| a (^ b (& c d)))"),
        ("a & b == c", "(& a (== b c))"),
        ("a <= b != c >= d", "(!= (<= a b) (>= c d))"),
        ("(1 + 2) * 3", "(* (+ 1 2) 3)"),
        ("-x", "(- x)"),
        ("-x * 2", "(* (- x) 2)"),
        ("!a && ~b", "(&& (! a) (~ b))"),
        ("- -1", "(- (- 1))"),
        ("!!a", "(! (! a))"),
        ("a - -1", "(- a (- 1))"),
        ("a != b", "(!= a b)"),
        ("$x-1", "(- $x 1)"),
    ]);
}

#[test]
fn casts() {
    check_exprs(&[
        ("(u8)x", "(cast u8 x)"),
        ("(u16) x", "(cast u16 x)"),
        ("(u32)$x", "(cast u32 $x)"),
        ("(u64)1", "(cast u64 1)"),
        ("(uint8)x", "(cast uint8 x)"),
        ("(uint64)x", "(cast uint64 x)"),
        ("(int8)x", "(cast int8 x)"),
        ("(int16)x", "(cast int16 x)"),
        ("(int32)x", "(cast int32 x)"),
        ("(int64)-1", "(cast int64 (- 1))"),
        ("(u8)x + 1", "(+ (cast u8 x) 1)"),
        ("(u8)(x + 1)", "(cast u8 (+ x 1))"),
        ("-(int32)x", "(- (cast int32 x))"),
        ("(u8)(u16)x", "(cast u8 (cast u16 x))"),
        ("(u32)args.x", "(cast u32 (. args x))"),
        // Not a cast: no operand follows, or not a type name.
        ("(u8)", "u8"),
        ("(u8) + 1", "(+ u8 1)"),
        ("(u7) + x", "(+ u7 x)"),
        ("(u8x)", "u8x"),
    ]);
}

#[test]
fn c_types_in_expressions() {
    check_exprs(&[
        ("(struct Foo *)arg0", "(cast struct Foo* arg0)"),
        ("(struct  Foo**) arg0", "(cast struct Foo** arg0)"),
        ("(unsigned long) x", "(cast unsigned long x)"),
        ("(int8[])12345", "(cast int8[] 12345)"),
        ("(uint8_t *)x", "(cast uint8_t* x)"),
        ("(enum Foo)1", "(cast enum Foo 1)"),
        ("*$p", "(* $p)"),
        ("**($p + 1)", "(* (* (+ $p 1)))"),
        ("$a * *$p", "(* $a (* $p))"),
        ("&$v", "(& $v)"),
        ("$a && $b", "(&& $a $b)"),
        ("$a.x[0]", "([] (. $a x) 0)"),
        ("@a[0][1]", "([] (@a 0) 1)"),
        ("$p->next->v", "(. (. $p next) v)"),
        ("sizeof(struct Foo)", "(sizeof struct Foo)"),
        ("sizeof(uint8)", "(sizeof uint8)"),
        ("sizeof($x)", "(sizeof $x)"),
        ("sizeof(1 == 1)", "(sizeof (== 1 1))"),
        ("offsetof(struct Foo, bar.x)", "(offsetof struct Foo bar.x)"),
    ]);
}

#[test]
fn c_definitions_before_probes() {
    let script = parse_ok(
        "#include <linux/sched.h>\n#define N 3\nstruct Foo { int a; struct { int b; } c; } __attribute__((packed)); enum E { A } begin { }",
    );
    let texts: Vec<&str> = script
        .c_definitions
        .iter()
        .map(|d| d.text.as_str())
        .collect();
    assert_eq!(
        texts,
        [
            "#include <linux/sched.h>",
            "#define N 3",
            "struct Foo { int a; struct { int b; } c; } __attribute__((packed));",
            "enum E { A }",
        ]
    );
    assert_eq!(script.actions.len(), 1);
    // A variable declared with a C type.
    parse_ok("begin { let $c : struct C*; let $w : struct W[10]; let $x: uint8 = 1; }");
}

#[test]
fn ternary() {
    check_exprs(&[
        ("a ? b : c", "(? a b c)"),
        ("a ? b : c ? d : e", "(? a b (? c d e))"),
        ("a ? b ? c : d : e", "(? a (? b c d) e)"),
        ("a || b ? c + 1 : d", "(? (|| a b) (+ c 1) d)"),
        ("@x = $a > 1 ? 1 : 2", "(= @x (? (> $a 1) 1 2))"),
    ]);
}

#[test]
fn primaries_and_postfix() {
    check_exprs(&[
        ("0", "0"),
        ("1_000_000", "1000000"),
        ("0x1f", "31"),
        ("0xdead_beef", "3735928559"),
        ("0b1010", "10"),
        ("1e6", "1000000"),
        ("100ms", "100000000"),
        ("1s", "1000000000"),
        ("5us", "5000"),
        ("10ns", "10"),
        ("2m", "120000000000"),
        ("1h", "3600000000000"),
        ("1d", "86400000000000"),
        ("10ul", "10"),
        ("18446744073709551615", "18446744073709551615"),
        ("true", "true"),
        ("false", "false"),
        ("truex", "truex"),
        (r#""a\n\t\\\"\0\x41\101""#, r#""a\n\t\\\"\0AA""#),
        ("pid", "pid"),
        ("$x", "$x"),
        ("$1", "$1"),
        ("$12", "$12"),
        ("@", "@"),
        ("@name", "@name"),
        ("@m[1]", "(@m 1)"),
        ("@m[1, \"a\"]", "(@m 1 \"a\")"),
        ("@m[(1, 2)]", "(@m (tuple 1 2))"),
        ("(a, b)", "(tuple a b)"),
        ("(a,)", "(tuple a)"),
        ("(a, b, c,)", "(tuple a b c)"),
        ("((a))", "a"),
        ("f()", "(f)"),
        ("f(1, x, \"s\")", "(f 1 x \"s\")"),
        ("kstack(perf, 3)", "(kstack perf 3)"),
        ("args.filename", "(. args filename)"),
        ("args->filename", "(. args filename)"),
        ("args -> a . b", "(. (. args a) b)"),
        ("$kv.0", "(. $kv 0)"),
        ("$t.1.0", "(. (. $t 1) 0)"),
        ("f(x).y", "(. (f x) y)"),
        ("@x++", "(++post @x)"),
        ("@x--", "(--post @x)"),
        ("++@x", "(++pre @x)"),
        ("--$x", "(--pre $x)"),
        ("@x++ + 1", "(+ (++post @x) 1)"),
    ]);
}

#[test]
fn expression_spans() {
    let cases = [
        ("1 + 2 * 3", "1 + 2 * 3"),
        ("-x ", "-x"),
        ("(u8) x", "(u8) x"),
        ("a ? b : c ", "a ? b : c"),
        ("args->x .y ", "args->x .y"),
        ("@m[1, 2] ", "@m[1, 2]"),
        ("@m ", "@m"),
        ("f(1) ", "f(1)"),
        ("(1, 2) ", "(1, 2)"),
        ("\"s\" ", "\"s\""),
        ("$x++ ", "$x++"),
        ("(1 + 2) * 3", "(1 + 2) * 3"),
    ];
    for (e, expected) in cases {
        let source = format!("begin {{ {e} }}");
        let s = parse_ok(&source);
        let got = &source[first_expr(&s).span.clone()];
        assert_eq!(got, expected, "span of {e:?}");
    }
    let source = "begin { @x = 1 + 2 ; }";
    let s = parse_ok(source);
    assert_eq!(
        &source[s.actions[0].body.stmts[0].span.clone()],
        "@x = 1 + 2"
    );
    let source = "begin { (u8)x; f(a); args->fld }";
    let s = parse_ok(source);
    let stmts = &s.actions[0].body.stmts;
    let StmtKind::Expr(Expr {
        kind: ExprKind::Cast { ty_span, .. },
        ..
    }) = &stmts[0].kind
    else {
        panic!("not a cast");
    };
    assert_eq!(&source[ty_span.clone()], "u8");
    let StmtKind::Expr(Expr {
        kind: ExprKind::Call { name_span, .. },
        ..
    }) = &stmts[1].kind
    else {
        panic!("not a call");
    };
    assert_eq!(&source[name_span.clone()], "f");
    let StmtKind::Expr(Expr {
        kind: ExprKind::Field { field_span, .. },
        ..
    }) = &stmts[2].kind
    else {
        panic!("not a field");
    };
    assert_eq!(&source[field_span.clone()], "fld");
}

// ---- Comments, shebang -------------------------------------------------------------------------

#[test]
fn comments_and_shebang() {
    check(&[
        ("#!/usr/bin/env rbt\nbegin { }", "(begin) {}"),
        ("#!/usr/bin/env rbt", ""),
        ("", ""),
        ("// only a comment", ""),
        (
            "/* a */ begin /* b */ { /* c */ @x /* d */ = /* e */ 1 /* f */ } // g",
            "(begin) {(= @x 1)}",
        ),
        (
            "begin { @x = 1; // one\n @y = 2; }",
            "(begin) {(= @x 1) (= @y 2)}",
        ),
        ("begin // the start\n{\n}\n", "(begin) {}"),
        (
            "begin { printf(\"// not a comment /* */\") }",
            "(begin) {(printf \"// not a comment /* */\")}",
        ),
        (
            "begin { @x = 4 /* divided */ / 2 }",
            "(begin) {(= @x (/ 4 2))}",
        ),
    ]);
}

// ---- is_incomplete -----------------------------------------------------------------------------

#[test]
fn incomplete_input() {
    for source in [
        "begin {",
        "begin { printf(\"a",
        "begin { @x = 1 +",
        "/* x",
        "begin",
        "begin { if ($x) {",
        "begin { @x = (1,",
        "begin <",
        "kprobe:a,",
        "begin { @x = 1 } // fine\n/* but this",
        "begin { @m[1",
    ] {
        assert!(
            syntax::is_incomplete(source),
            "{source:?} should be incomplete"
        );
    }
    for source in [
        "begin { }",
        "begin } x",
        "",
        "begin { @x = 1 }",
        "begin { @x = 1 @y }",
        "begin { 1 + }",
        "begin { printf(\"a\") } }",
    ] {
        assert!(
            !syntax::is_incomplete(source),
            "{source:?} should not be incomplete"
        );
    }
}

#[test]
fn deep_input_does_not_crash() {
    let deep = format!("begin {{ @x = {}1{} }}", "(".repeat(5000), ")".repeat(5000));
    let errors = syntax::parse(&deep).unwrap_err();
    assert_eq!(errors[0].code, "E0108");
    let ok = format!("begin {{ @x = {}1{} }}", "(".repeat(150), ")".repeat(150));
    parse_ok(&ok);
    let negations = format!("begin {{ @x = {}1 }}", "-".repeat(5000));
    let _ = syntax::parse(&negations);
    let ternaries = format!("begin {{ @x = {}1 }}", "a ? b : ".repeat(3000));
    let _ = syntax::parse(&ternaries);
}

// ---- Block expressions and macros ------------------------------------------------------------

#[test]
fn block_expressions() {
    check_exprs(&[
        (
            "$x = { let $y = 1; $y + 1 }",
            "(= $x {(let $y 1) => (+ $y 1)})",
        ),
        // A `;` after the last expression makes it a statement: the block has no value.
        ("$x = { $y + 1; }", "(= $x {(+ $y 1)})"),
        ("$x = { $y = 1 }", "(= $x {(= $y 1)})"),
        ("$x = { }", "(= $x {})"),
        ("print({ 1 })", "(print {=> 1})"),
        ("$x = { { 1 } } + 2", "(= $x (+ {=> {=> 1}} 2))"),
        (
            "@ = { let $a = 1; avg($a) }",
            "(= @ {(let $a 1) => (avg $a)})",
        ),
        (
            "if ({ let $a = true; $a }) { }",
            "(if {(let $a true) => $a} {})",
        ),
    ]);
    check(&[
        // As a statement a block needs no `;`.
        (
            "begin { { $a = 1; } $b = 2; { 3 } }",
            "(begin) {{(= $a 1)} (= $b 2) {=> 3}}",
        ),
        ("begin { { }; }", "(begin) {{}}"),
        // `_ = e` evaluates `e` and drops its value; `_x` is still a name.
        (
            "begin { _ = { print(1); 1 }; _x; _ = 2 }",
            "(begin) {{(print 1) => 1} _x 2}",
        ),
    ]);
}

#[test]
fn macro_definitions() {
    check(&[
        (
            "macro inc($x) { $x += 1; } begin { inc($a); }",
            "(macro inc ($x) {(+= $x 1)})\n(begin) {(inc $a)}",
        ),
        (
            "macro get(@m, k) { @m[k] } macro none() { 1 }",
            "(macro get (@m k) {=> (@m k)})\n(macro none () {=> 1})",
        ),
        // Definitions and actions in any order; `macro` is an ordinary name elsewhere.
        (
            "begin { f(1) } macro f(x) { x + 1 } end { $macro = 1 }",
            "(macro f (x) {=> (+ x 1)})\n(begin) {(f 1)}\n(end) {(= $macro 1)}",
        ),
    ]);
    let source = "macro two() { 2 }";
    let s = parse_ok(source);
    assert_eq!(&source[s.macros[0].name_span.clone()], "two");
    assert_eq!(&source[s.macros[0].span.clone()], source);
    assert_eq!(&source[s.macros[0].body.span.clone()], "{ 2 }");
}

/// Each case is a script and the print of its AST after macro expansion, or its errors.
fn check_expanded(cases: &[(&str, &str)]) {
    let mut failures = String::new();
    for (source, expected) in cases {
        let mut s = parse_ok(source);
        let got = match macros::expand(&mut s) {
            Ok(()) => script(&s),
            Err(d) => diag::render(&d, "test.rbt", source, false),
        };
        if got != *expected {
            writeln!(
                failures,
                "{source:?}\n  expected: {expected}\n  got:      {got}"
            )
            .unwrap();
        }
    }
    assert!(failures.is_empty(), "\n{failures}");
}

#[test]
fn macros_take_variables_and_maps_by_name() {
    check_expanded(&[
        (
            "macro inc($x) { $x += 1; $x } begin { $a = 1; $b = inc($a); }",
            "(begin) {(= $a 1) (= $b {inc: (+= $a 1) => $a})}",
        ),
        (
            "macro set(@x, $k) { @x[$k] = 2; } begin { set(@a, $i); }",
            "(begin) {{set: (= (@a $i) 2)}}",
        ),
        // An expression parameter is copied to every use, unevaluated.
        (
            "macro twice(x) { x; x } begin { twice(printf(\"hi\")); }",
            "(begin) {{twice: (printf \"hi\") => (printf \"hi\")}}",
        ),
        (
            "macro add1(x) { x + 1 } begin { print(add1($a * 2)); }",
            "(begin) {(print {add1: => (+ (* $a 2) 1)})}",
        ),
        // Through a second macro, the names stay the caller's.
        (
            "macro second(a, b) { print((a, b)); } macro first(@b, $x) { second(@b, $x); } \
             begin { first(@d, $y); }",
            "(begin) {{first: {second: (print (tuple @d $y))}}}",
        ),
    ]);
}

#[test]
fn macro_variables_are_renamed() {
    check_expanded(&[
        (
            "macro inc(x) { $y = x + 1; $y } begin { $y = 2; $z = inc(5); }",
            "(begin) {(= $y 2) (= $z {inc: (= $$inc_y (+ 5 1)) => $$inc_y})}",
        ),
        (
            "macro one() { let $v = 1; $v } begin { $a = one; }",
            "(begin) {(= $a {one: (let $$one_v 1) => $$one_v})}",
        ),
        // A nested expansion's names carry its depth.
        (
            "macro in() { $t = 1; $t } macro out() { $t = in(); $t } begin { $a = out(); }",
            "(begin) {(= $a {out: (= $$out_t {in: (= $$in_2_t 1) => $$in_2_t}) => $$out_t})}",
        ),
        // A variable the macro only reads is the caller's, as in bpftrace.
        (
            "macro peek() { $outer } begin { $outer = 1; print(peek()); }",
            "(begin) {(= $outer 1) (print {peek: => $outer})}",
        ),
    ]);
}

#[test]
fn macro_lookup() {
    check_expanded(&[
        // Definition order does not matter; macros call macros.
        (
            "macro a(x) { b(x) + 1 } begin { print(a(1)); } macro b(y) { y * 2 }",
            "(begin) {(print {a: => (+ {b: => (* 1 2)} 1)})}",
        ),
        // A parameter hides a macro of the same name.
        (
            "macro add() { 2 } macro ident(add) { add } begin { print(ident(1)); }",
            "(begin) {(print 1)}",
        ),
        // The first definition whose parameter kinds fit the arguments.
        (
            "macro f($v) { 1 } macro f(@m) { 2 } macro f(e) { 3 } \
             begin { print((f($a), f(@b), f(4), f(@b[1]))); }",
            "(begin) {(print (tuple 1 2 3 3))}",
        ),
        // Names that are no macro stay calls and identifiers.
        (
            "macro f() { 1 } begin { print((pid, g(), f)); }",
            "(begin) {(print (tuple pid (g) 1))}",
        ),
    ]);
}

// ---- Errors: one case per file in syntax/errors/, with its rendered diagnostics ---------------

/// Runs every `syntax/errors/*.rbt` and compares the rendered diagnostics with the `.txt` next to
/// it. `BLESS=1 cargo test` rewrites the `.txt` files.
#[test]
fn error_cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/syntax/errors");
    let bless = std::env::var_os("BLESS").is_some();
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rbt"))
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases in {}", dir.display());
    let mut failures = Vec::new();
    for case in cases {
        let source = std::fs::read_to_string(&case).unwrap();
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let rendered = match syntax::parse(&source) {
            Ok(s) => format!("parsed without error:\n{}\n", script(&s)),
            Err(d) => diag::render(&d, &name, &source, false),
        };
        let expected_path = case.with_extension("txt");
        if bless {
            std::fs::write(&expected_path, &rendered).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if rendered != expected {
            failures.push(format!("{name}: expected\n{expected}\ngot\n{rendered}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
