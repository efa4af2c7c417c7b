//! The syntax tree of an rbt script, as `syntax` builds it from the pest parse tree.
//! Every node carries the byte span of its source text, for diagnostics.

use std::ops::Range;

/// Byte offsets into the script's source text.
pub type Span = Range<usize>;

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Script {
    /// `config = { key = value; ... }`, in order.
    pub config: Vec<ConfigItem>,
    /// `let @name = hash(100);`
    pub map_decls: Vec<MapDecl>,
    /// C definitions (`struct Foo { int a; }`, `enum`, `typedef`, `#define`) as written; the
    /// compiler's `ctypes` reads them.
    pub c_definitions: Vec<CDefinition>,
    /// `macro name(params) { body }`; `macros::expand` replaces every call by its body and
    /// empties this list, so no later phase sees a macro.
    pub macros: Vec<MacroDef>,
    pub actions: Vec<Action>,
}

/// `macro name($var, @map, ident) { statements; value }`
#[derive(Clone, Debug, PartialEq)]
pub struct MacroDef {
    pub name: String,
    pub name_span: Span,
    pub params: Vec<MacroParam>,
    /// Always an `ExprKind::Block`.
    pub body: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MacroParam {
    pub kind: ParamKind,
    /// `x` for `$x`, `@m` for `@m` (as `ExprKind::Var` and `ExprKind::Map` name them), `e` for `e`.
    pub name: String,
    pub span: Span,
}

/// The call a block expression was expanded from.
#[derive(Clone, Debug, PartialEq)]
pub struct MacroCall {
    pub name: String,
    pub span: Span,
}

/// How a macro parameter takes its argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParamKind {
    /// `$x`: a variable, by name; the macro reads and writes the caller's variable.
    Var,
    /// `@m`: a map without keys, by name.
    Map,
    /// `e`: any expression, put in place of every use of `e` (evaluated at each).
    Expr,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ConfigItem {
    pub key: String,
    /// The value as written (a string literal without its quotes).
    pub value: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CDefinition {
    pub text: String,
    pub span: Span,
}

/// `let @name = kind(size);`: the kind of kernel map (hash, lruhash, percpuhash, percpulruhash)
/// and its number of entries.
#[derive(Clone, Debug, PartialEq)]
pub struct MapDecl {
    pub name: String,
    pub kind: String,
    pub size: Option<u64>,
    pub span: Span,
}

/// `probe[, probe...] [/predicate/] { statements }`
#[derive(Clone, Debug, PartialEq)]
pub struct Action {
    pub probes: Vec<ProbeSpec>,
    pub predicate: Option<Expr>,
    pub body: Block,
    pub span: Span,
}

/// A probe as written: `tracepoint:syscalls:sys_enter_openat` is provider `tracepoint` with
/// parts `["syscalls", "sys_enter_openat"]`; `begin` is provider `begin` with no parts.
/// What the parts mean is the probe provider's business (see stdlib).
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeSpec {
    pub provider: String,
    pub parts: Vec<String>,
    /// The whole probe text, as written.
    pub text: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    /// An expression evaluated for its effect: `printf(...)`, `exit()`, `@x++`.
    Expr(Expr),
    /// `target = value`, or `target op= value` when `op` is set.
    Assign {
        target: Expr,
        op: Option<BinOp>,
        value: Expr,
    },
    If {
        cond: Expr,
        then: Block,
        /// `else { ... }`; an `else if` is an `If` statement alone in this block.
        els: Option<Block>,
    },
    /// `let $name [: type] [= value]`.
    Let { name: String, value: Option<Expr> },
    /// `return`: the probe's run ends here (a value, if given, is evaluated and ignored).
    Return(Option<Expr>),
    /// `while (cond) { body }`
    While { cond: Expr, body: Block },
    /// `unroll (count) { body }`: the body `count` times (a constant 1..=100).
    Unroll { count: Expr, body: Block },
    /// `for ($var : @map) { body }` or `for ($var : start..end) { body }`.
    For {
        var: String,
        var_span: Span,
        iter: ForIter,
        body: Block,
    },
    /// `break`: leaves the innermost loop.
    Break,
    /// `continue`: the innermost loop's next round.
    Continue,
}

/// What a `for` loop runs over.
#[derive(Clone, Debug, PartialEq)]
pub enum ForIter {
    /// Every element of a map: `$var` is `(key, value)`. The expression is written as a map
    /// without keys (sema checks).
    Map(Expr),
    /// `start..end`, end excluded: `$var` takes each integer.
    Range { start: Expr, end: Expr },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// An integer literal; `negative` literals arrive as `Unary(Neg, Int)`.
    Int(u64),
    Bool(bool),
    /// A string literal with its escapes resolved.
    Str(Vec<u8>),
    /// A bare identifier: a builtin variable (`pid`, `comm`, `args`) or a call without
    /// parentheses; the catalogue decides which.
    Ident(String),
    /// A scratch variable `$name` (the name without `$`).
    Var(String),
    /// A positional parameter `$1`.
    Positional(u32),
    /// `$#`: the number of positional parameters.
    PositionalCount,
    /// `@name`, `@name[k]`, `@name[k1, k2]`; the anonymous map is named `@`.
    /// The name keeps its `@`.
    Map {
        name: String,
        keys: Vec<Expr>,
    },
    /// `name(args)`.
    Call {
        name: String,
        name_span: Span,
        args: Vec<Expr>,
    },
    Unary {
        op: UnOp,
        expr: Box<Expr>,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `cond ? then : els`
    Ternary {
        cond: Box<Expr>,
        then: Box<Expr>,
        els: Box<Expr>,
    },
    /// `(type) expr`
    Cast {
        ty: TypeName,
        ty_span: Span,
        expr: Box<Expr>,
    },
    /// `expr[index]`: an array element, or the element `index` places past a pointer.
    Index {
        expr: Box<Expr>,
        index: Box<Expr>,
    },
    /// `sizeof(type)`.
    SizeofType(TypeName),
    /// `sizeof(expr)`: the size of the expression's type; the expression is not evaluated.
    SizeofExpr(Box<Expr>),
    /// `offsetof(struct Foo, a.b)`.
    Offsetof {
        ty: TypeName,
        fields: Vec<String>,
    },
    /// `expr.field` or `expr->field`.
    Field {
        expr: Box<Expr>,
        field: String,
        field_span: Span,
    },
    /// `(a, b, ...)`; at least two elements, or one with a trailing comma.
    Tuple(Vec<Expr>),
    /// `{ statements; value }`: the statements run, then `value` (if any) is the block's value.
    Block {
        stmts: Vec<Stmt>,
        value: Option<Box<Expr>>,
        /// Set when the block is a macro's body put in place of its call (for messages).
        macro_call: Option<MacroCall>,
    },
    /// `++x`, `x++`, `--x`, `x--` on a map or variable.
    IncDec {
        target: Box<Expr>,
        increment: bool,
        prefix: bool,
    },
}

/// A C type as an expression names it: `uint8`, `unsigned long`, `struct Foo **`, `int8[]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeName {
    /// The base type's words, single-spaced: `struct Foo`, `unsigned int`, `uint8`.
    pub base: String,
    /// The number of `*`.
    pub pointers: usize,
    /// `[N]` or `[]` (None) after the stars, outermost first.
    pub arrays: Vec<Option<usize>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    /// `-x`
    Neg,
    /// `!x`
    Not,
    /// `~x`
    BitNot,
    /// `*p`: the value a pointer points to.
    Deref,
    /// `&$x`: the address of a variable.
    AddrOf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    BitAnd,
    BitOr,
    BitXor,
    Shl,
    Shr,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `&&`, short-circuit.
    And,
    /// `||`, short-circuit.
    Or,
}
