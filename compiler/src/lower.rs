//! Lowering: one checked action, for one attach point, into a cranelift IR function.
//!
//! The IR stays within the subset the eBPF backend accepts (ARCHITECTURE.md, "The CLIF
//! subset"): i64 values, explicit stack slots, helper calls as user functions of namespace 0,
//! maps as symbols of namespace 1.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    self, AbiParam, ExtFuncData, ExternalName, FuncRef, GlobalValue, GlobalValueData, InstBuilder,
    MemFlagsData, Signature, StackSlot, StackSlotData, StackSlotKind, UserExternalName,
    UserFuncName, types,
};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};

use crate::ast::{self, BinOp, Expr, ExprKind, ForIter, Stmt, StmtKind, UnOp};
use crate::bpf::CallbackKind;
use crate::catalogue::{AggKind, Attach, Catalogue, FunctionKind, ProbeClass};
use crate::kernel::FieldKind;
use crate::maps::{self, Layout, MapKind};
use crate::sema::{Event, Getopt, MapValue, Options, Positional, Tables, Types};
use crate::types::{Record, Render, Type};

/// BPF helper numbers used by the compiler and the catalogue.
pub mod helper {
    pub const MAP_LOOKUP_ELEM: u32 = 1;
    pub const MAP_UPDATE_ELEM: u32 = 2;
    pub const MAP_DELETE_ELEM: u32 = 3;
    pub const KTIME_GET_NS: u32 = 5;
    pub const GET_SMP_PROCESSOR_ID: u32 = 8;
    pub const GET_CURRENT_PID_TGID: u32 = 14;
    pub const GET_CURRENT_UID_GID: u32 = 15;
    pub const GET_CURRENT_COMM: u32 = 16;
    pub const PROBE_READ_USER: u32 = 112;
    pub const PROBE_READ_KERNEL: u32 = 113;
    pub const PROBE_READ_USER_STR: u32 = 114;
    pub const PROBE_READ_KERNEL_STR: u32 = 115;
    pub const KTIME_GET_BOOT_NS: u32 = 125;
    pub const GET_PRANDOM_U32: u32 = 7;
    pub const GET_CURRENT_TASK: u32 = 35;
    pub const GET_CURRENT_TASK_BTF: u32 = 158;
    pub const GET_NUMA_NODE_ID: u32 = 42;
    pub const GET_CURRENT_CGROUP_ID: u32 = 80;
    pub const JIFFIES64: u32 = 118;
    pub const RINGBUF_OUTPUT: u32 = 130;
    pub const SEND_SIGNAL: u32 = 109;
    pub const GET_STACKID: u32 = 27;
    pub const KTIME_GET_TAI_NS: u32 = 208;
    pub const MAP_LOOKUP_PERCPU_ELEM: u32 = 195;
    pub const TRACE_PRINTK: u32 = 6;
    pub const FOR_EACH_MAP_ELEM: u32 = 164;
    pub const LOOP: u32 = 181;
}

/// bpf_get_stackid flags: the user stack instead of the kernel's; a new stack whose hash
/// collides replaces the old one instead of failing.
const BPF_F_USER_STACK: i64 = 1 << 8;
const BPF_F_REUSE_STACKID: i64 = 1 << 10;

/// Linux's AF_INET and AF_INET6.
const AF_INET: i64 = 2;
const AF_INET6: i64 = 10;

/// Buffers up to this size live on the stack; larger ones (long strings, big records) in the
/// per-CPU scratch map, as bpftrace does: the BPF stack is 512 bytes.
const ON_STACK_LIMIT: u32 = 64;

/// A buffer of `size` bytes: a stack slot, or a region of this program's per-CPU scratch value.
#[derive(Clone, Copy, Debug)]
pub struct Mem {
    base: MemBase,
    pub size: u32,
}

#[derive(Clone, Copy, Debug)]
enum MemBase {
    Stack { slot: StackSlot, offset: u32 },
    Scratch { offset: u32 },
}

/// Where the bytes of a C value are: at an address to read with `bpf_probe_read_*`, at
/// `offset` in `record` behind a pointer the verifier types by BTF (`btf_pointers`), or in a
/// buffer of the program, at a byte offset.
#[derive(Clone)]
enum Place {
    Addr(ir::Value),
    Btf {
        ptr: ir::Value,
        record: Arc<Record>,
        offset: usize,
    },
    Buf(Mem, u32),
}

/// A lowered value: an integer in a register, or bytes in a buffer.
#[derive(Clone, Debug)]
pub enum Val {
    Int(ir::Value),
    Mem(Mem),
    /// `args` and calls without a value.
    None,
}

/// Where the programs find the maps: the index of each script map, then the two internal ones.
pub struct MapRefs {
    pub layouts: Vec<Layout>,
    pub events: u32,
    pub counters: u32,
    /// The per-CPU scratch value for buffers too large for the stack; its size is set once
    /// every program is lowered.
    pub scratch: u32,
    /// Values the runtime writes before the programs run (`maps::Global`).
    pub globals: u32,
    /// The stack-trace map of `ustack` and `kstack`.
    pub stacks: u32,
}

impl MapRefs {
    pub fn new(tables: &Tables, options: &Options) -> Self {
        let mut layouts: Vec<Layout> = tables
            .maps
            .iter()
            .enumerate()
            .map(|(i, m)| maps::layout(i, m, options, tables.declared.get(&m.name)))
            .collect();
        let events = layouts.len() as u32;
        layouts.push(maps::events_layout());
        layouts.push(maps::counters_layout(tables.maps.len()));
        layouts.push(maps::scratch_layout(0));
        layouts.push(maps::globals_layout());
        layouts.push(maps::stacks_layout(tables.stacks, options));
        MapRefs {
            layouts,
            events,
            counters: events + 1,
            scratch: events + 2,
            globals: events + 3,
            stacks: events + 4,
        }
    }
}

/// What lowering reads: the script's tables and the program's types.
pub struct Input<'a> {
    pub catalogue: &'a Catalogue,
    pub tables: &'a Tables,
    pub types: &'a Types,
    pub maps: &'a MapRefs,
    pub attach: &'a Attach,
    /// What `args` holds: the tracepoint's fields or the traced function's parameters.
    pub args_fields: Option<&'a [crate::kernel::TracepointField]>,
    /// The traced function's BTF prototype (fentry, fexit).
    pub function: Option<&'a crate::kernel::FunctionProto>,
    pub options: &'a Options,
}

#[derive(Clone, Copy)]
enum VarStore {
    Reg(Variable),
    Mem(Mem),
    /// An integer kept in memory: a variable that loop callbacks share with their program.
    Cell(Mem),
}

impl VarStore {
    /// Whether a callback can reach it: it lives in the per-CPU scratch value, whose offsets
    /// mean the same in every function of the program.
    fn shared(&self) -> bool {
        match self {
            VarStore::Reg(_) => false,
            VarStore::Mem(m) | VarStore::Cell(m) => matches!(m.base, MemBase::Scratch { .. }),
        }
    }
}

/// The builder API through which the compiler and the catalogue's records emit IR.
pub struct Lowerer<'f, 'a> {
    b: FunctionBuilder<'f>,
    input: &'a Input<'a>,
    ctx: ir::Value,
    vars: HashMap<String, VarStore>,
    helpers: HashMap<u32, FuncRef>,
    map_symbols: HashMap<u32, GlobalValue>,
    /// The pointer to this CPU's scratch value, looked up once in the entry block.
    scratch: Variable,
    /// Buffers live for one statement unless they hold a variable: each statement starts with
    /// every temporary stack slot free again and the scratch temporaries empty.
    buffers: Buffers,
    /// The block that returns from the program.
    exit: ir::Block,
    /// Where `break` and `continue` go, innermost loop last.
    loops: Vec<LoopTargets>,
    /// How many block expressions enclose the statement being lowered.
    in_block_expr: u32,
    /// The callbacks of this program (`for` loop bodies), shared by every function of it.
    callbacks: Rc<RefCell<Vec<(ir::Function, CallbackKind)>>>,
    /// In a callback: its last argument, which points at the program's context pointer.
    ctx_home: Option<ir::Value>,
    /// Set by a callback whose body ended the probe's run (`return`, `exit()`), so that its
    /// caller stops too.
    returned: Option<Mem>,
    /// Values the verifier types as pointers to a BTF record (PTR_TO_BTF_ID): fentry/fexit
    /// context slots, helper results the catalogue marks, pointer fields loaded through them.
    /// Fields behind them are plain loads, which the verifier allows at constant offsets.
    btf_pointers: HashSet<ir::Value>,
    /// The `btf_pointers` loaded from a record (not a context slot or a helper's result).
    loaded_pointers: HashSet<ir::Value>,
    /// Set while a builtin variable is lowered as a pointer whose fields are read next.
    dereferenced: bool,
}

/// The blocks a loop's `break` and `continue` jump to.
#[derive(Clone, Copy)]
struct LoopTargets {
    exit: ir::Block,
    next: ir::Block,
}

/// Where buffers come from. Variables' scratch buffers grow up from 0; temporaries grow down
/// from `maps::SCRATCH_BYTES`; they must not meet.
#[derive(Default)]
struct Buffers {
    /// Temporary stack slots: (slot, size, in use by the current statement).
    stack: Vec<(StackSlot, u32, bool)>,
    scratch_vars: u32,
    scratch_temps: u32,
    /// The most scratch bytes in use at once.
    scratch_peak: u32,
}

/// A lowered program, its callbacks, and how much of the per-CPU scratch value it uses.
pub struct Lowered {
    pub func: ir::Function,
    /// The functions `for` loops hand to helpers; `func_addr` of user function (2, k) is the
    /// k-th.
    pub callbacks: Vec<(ir::Function, CallbackKind)>,
    pub scratch_bytes: u32,
}

pub fn lower_action(action: &ast::Action, input: &Input) -> Lowered {
    let mut sig = Signature::new(CallConv::SystemV);
    sig.params.push(AbiParam::new(types::I64));
    sig.returns.push(AbiParam::new(types::I64));
    let mut func = ir::Function::with_name_signature(UserFuncName::user(0, 0), sig);
    let mut fctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut fctx);
    // The entry block is filled last: only then is it known whether the program needs its
    // scratch pointer, which must dominate every use.
    let entry = b.create_block();
    b.func.layout.append_block(entry);
    b.append_block_params_for_function_params(entry);
    let ctx = b.block_params(entry)[0];
    let body = b.create_block();
    let exit = b.create_block();
    let scratch = b.declare_var(types::I64);
    b.switch_to_block(body);
    let mut lx = Lowerer {
        b,
        input,
        ctx,
        vars: HashMap::new(),
        helpers: HashMap::new(),
        map_symbols: HashMap::new(),
        scratch,
        buffers: Buffers::default(),
        exit,
        loops: Vec::new(),
        in_block_expr: 0,
        callbacks: Rc::default(),
        ctx_home: None,
        returned: None,
        btf_pointers: HashSet::new(),
        loaded_pointers: HashSet::new(),
        dereferenced: false,
    };
    lx.share_loop_variables(&action.body);
    if let Some(target) = input.options.target_pid
        && input.attach.class() != ProbeClass::Special
    {
        let tgid = lx.helper(helper::GET_CURRENT_PID_TGID, &[]);
        let pid = lx.b.ins().ushr_imm_s(tgid, 32);
        let mine = lx.b.ins().icmp_imm_s(IntCC::Equal, pid, i64::from(target));
        let rest = lx.b.create_block();
        lx.b.ins().brif(mine, rest, &[], exit, &[]);
        lx.b.switch_to_block(rest);
    }
    if let Some(pred) = &action.predicate {
        let c = lx.int(pred);
        let rest = lx.b.create_block();
        lx.b.ins().brif(c, rest, &[], exit, &[]);
        lx.b.switch_to_block(rest);
    }
    lx.block(&action.body);
    lx.b.ins().jump(exit, &[]);
    lx.b.switch_to_block(exit);
    let zero = lx.b.ins().iconst(types::I64, 0);
    lx.b.ins().return_(&[zero]);

    lx.b.switch_to_block(entry);
    if lx.buffers.scratch_peak > 0 {
        let key =
            lx.b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, 8, 3));
        let zero = lx.iconst(0);
        lx.b.ins().stack_store(types::I64, zero, key, 0);
        let scratch_map = lx.input.maps.scratch;
        let map = lx.map_ptr(scratch_map);
        let k = lx.b.ins().stack_addr(types::I64, key, 0);
        let p = lx.helper(helper::MAP_LOOKUP_ELEM, &[map, k]);
        lx.b.def_var(scratch, p);
        lx.b.ins().brif(p, body, &[], exit, &[]);
    } else {
        lx.b.ins().jump(body, &[]);
    }
    let scratch_bytes = lx.buffers.scratch_peak;
    let callbacks = lx.callbacks.take();
    lx.b.seal_all_blocks();
    lx.b.finalize(frontend_config());
    Lowered {
        func,
        callbacks,
        scratch_bytes,
    }
}

/// A node of a probe's body, as `walk_stmts` visits them.
enum Node<'a> {
    Stmt(&'a Stmt),
    Expr(&'a Expr),
}

/// Calls `visit` on every statement and expression of `stmts`, at any depth (blocks of
/// statements, block expressions, loop bodies).
fn walk_stmts<'a>(stmts: &'a [Stmt], visit: &mut dyn FnMut(Node<'a>)) {
    for stmt in stmts {
        visit(Node::Stmt(stmt));
        let mut exprs: Vec<&Expr> = Vec::new();
        let mut blocks: Vec<&ast::Block> = Vec::new();
        match &stmt.kind {
            StmtKind::Expr(e) | StmtKind::Return(Some(e)) => exprs.push(e),
            StmtKind::Assign { target, value, .. } => exprs.extend([target, value]),
            StmtKind::If { cond, then, els } => {
                exprs.push(cond);
                blocks.push(then);
                blocks.extend(els);
            }
            StmtKind::Let { value, .. } => exprs.extend(value),
            StmtKind::While { cond: e, body } | StmtKind::Unroll { count: e, body } => {
                exprs.push(e);
                blocks.push(body);
            }
            StmtKind::For { iter, body, .. } => {
                match iter {
                    ForIter::Map(map) => exprs.push(map),
                    ForIter::Range { start, end } => exprs.extend([start, end]),
                }
                blocks.push(body);
            }
            StmtKind::Return(None) | StmtKind::Break | StmtKind::Continue => {}
        }
        for e in exprs {
            walk_expr(e, visit);
        }
        for b in blocks {
            walk_stmts(&b.stmts, visit);
        }
    }
}

fn walk_expr<'a>(e: &'a Expr, visit: &mut dyn FnMut(Node<'a>)) {
    visit(Node::Expr(e));
    match &e.kind {
        ExprKind::Int(_)
        | ExprKind::Bool(_)
        | ExprKind::Str(_)
        | ExprKind::Ident(_)
        | ExprKind::Var(_)
        | ExprKind::Positional(_)
        | ExprKind::PositionalCount
        | ExprKind::SizeofType(_)
        | ExprKind::Offsetof { .. } => {}
        ExprKind::Map { keys: items, .. }
        | ExprKind::Call { args: items, .. }
        | ExprKind::Tuple(items) => items.iter().for_each(|i| walk_expr(i, visit)),
        ExprKind::Unary { expr, .. }
        | ExprKind::Cast { expr, .. }
        | ExprKind::Field { expr, .. }
        | ExprKind::SizeofExpr(expr)
        | ExprKind::IncDec { target: expr, .. } => walk_expr(expr, visit),
        ExprKind::Binary { lhs, rhs, .. }
        | ExprKind::Index {
            expr: lhs,
            index: rhs,
        } => {
            walk_expr(lhs, visit);
            walk_expr(rhs, visit);
        }
        ExprKind::Ternary { cond, then, els } => {
            walk_expr(cond, visit);
            walk_expr(then, visit);
            walk_expr(els, visit);
        }
        ExprKind::Block { stmts, value, .. } => {
            walk_stmts(stmts, visit);
            if let Some(value) = value {
                walk_expr(value, visit);
            }
        }
    }
}

/// Adds to `out` the variables named inside the bodies of `for` loops; true if there is one.
fn vars_in_for_bodies(block: &ast::Block, out: &mut HashSet<String>) -> bool {
    let mut bodies = Vec::new();
    walk_stmts(&block.stmts, &mut |node| {
        if let Node::Stmt(Stmt {
            kind: StmtKind::For { body, .. },
            ..
        }) = node
        {
            bodies.push(body);
        }
    });
    for body in &bodies {
        walk_stmts(&body.stmts, &mut |node| match node {
            Node::Expr(Expr {
                kind: ExprKind::Var(name),
                ..
            })
            | Node::Stmt(Stmt {
                kind: StmtKind::Let { name, .. } | StmtKind::For { var: name, .. },
                ..
            }) => {
                out.insert(name.clone());
            }
            _ => {}
        });
    }
    !bodies.is_empty()
}

/// `(index, ctx) -> i64` for `bpf_loop`, `(map, key, value, ctx) -> i64` for
/// `bpf_for_each_map_elem`.
fn callback_signature(kind: CallbackKind) -> Signature {
    let mut sig = Signature::new(CallConv::SystemV);
    let params = match kind {
        CallbackKind::Loop => 2,
        CallbackKind::ForEachMapElem => 4,
    };
    sig.params
        .extend((0..params).map(|_| AbiParam::new(types::I64)));
    sig.returns.push(AbiParam::new(types::I64));
    sig
}

/// The condition code of a comparison operator.
fn compare_cc(op: BinOp, signed: bool) -> IntCC {
    match (op, signed) {
        (BinOp::Eq, _) => IntCC::Equal,
        (BinOp::Ne, _) => IntCC::NotEqual,
        (BinOp::Lt, true) => IntCC::SignedLessThan,
        (BinOp::Lt, false) => IntCC::UnsignedLessThan,
        (BinOp::Le, true) => IntCC::SignedLessThanOrEqual,
        (BinOp::Le, false) => IntCC::UnsignedLessThanOrEqual,
        (BinOp::Gt, true) => IntCC::SignedGreaterThan,
        (BinOp::Gt, false) => IntCC::UnsignedGreaterThan,
        (BinOp::Ge, true) => IntCC::SignedGreaterThanOrEqual,
        (BinOp::Ge, false) => IntCC::UnsignedGreaterThanOrEqual,
        _ => panic!("bug: {op:?} is not a comparison"),
    }
}

fn frontend_config() -> cranelift_codegen::isa::TargetFrontendConfig {
    cranelift_codegen::isa::TargetFrontendConfig {
        default_call_conv: CallConv::SystemV,
        pointer_width: target_lexicon::PointerWidth::U64,
        page_size_align_log2: 12,
    }
}

fn flags() -> MemFlagsData {
    // Never `can_move`: the verifier must see every load where it was written (NOTES.md).
    MemFlagsData::trusted()
}

impl<'f, 'a> Lowerer<'f, 'a> {
    // ----- the builder API used by catalogue records -----

    pub fn ins(&mut self) -> cranelift_frontend::FuncInstBuilder<'_, 'f> {
        self.b.ins()
    }

    pub fn attach(&self) -> &Attach {
        self.input.attach
    }

    /// The BTF prototype of the traced function, in fentry and fexit programs.
    pub fn function_proto(&self) -> Option<&crate::kernel::FunctionProto> {
        self.input.function
    }

    pub fn iconst(&mut self, v: i64) -> ir::Value {
        self.b.ins().iconst(types::I64, v)
    }

    /// Calls BPF helper `id`; every argument and the result are 64-bit.
    pub fn helper(&mut self, id: u32, args: &[ir::Value]) -> ir::Value {
        let f = match self.helpers.get(&id) {
            Some(f) => *f,
            None => {
                let mut sig = Signature::new(CallConv::SystemV);
                sig.params
                    .extend(args.iter().map(|_| AbiParam::new(types::I64)));
                sig.returns.push(AbiParam::new(types::I64));
                let sig = self.b.import_signature(sig);
                let name = self
                    .b
                    .func
                    .declare_imported_user_function(UserExternalName {
                        namespace: 0,
                        index: id,
                    });
                let f = self.b.import_function(ExtFuncData {
                    name: ExternalName::User(name),
                    signature: sig,
                    colocated: false,
                    patchable: false,
                });
                self.helpers.insert(id, f);
                f
            }
        };
        let call = self.b.ins().call(f, args);
        self.b.inst_results(call)[0]
    }

    /// Marks `v`, of type `ty`, as a value the verifier types by BTF (a typed context slot of
    /// a fentry/fexit program, a helper result of PTR_TO_BTF_ID): when `ty` points to a
    /// record, the fields behind it are plain loads instead of probe reads.
    pub fn btf_pointer(&mut self, v: ir::Value, ty: &Type) -> ir::Value {
        if self.pointee_record(ty).is_some() {
            self.btf_pointers.insert(v);
        }
        v
    }

    /// Whether the builtin variable being lowered is a pointer to a record of the kernel's BTF
    /// whose fields are read next (`curtask->pid`): a record may then return a pointer the
    /// verifier types by BTF (`btf_pointer`), which it would refuse arithmetic on elsewhere.
    pub fn dereferenced(&self) -> bool {
        self.dereferenced
    }

    /// Loads an integer of `bits` from the probe's context at `offset`, extended to 64 bits.
    pub fn load_ctx(&mut self, offset: i32, bits: u8, signed: bool) -> ir::Value {
        let ctx = self.ctx;
        self.load_int(ctx, offset, bits, signed)
    }

    /// A zeroed buffer of `size` bytes (rounded up to 8): on the stack when small, else in the
    /// per-CPU scratch value.
    pub fn buffer(&mut self, size: usize) -> Mem {
        let mem = self.buffer_uninit(size);
        let zero = self.iconst(0);
        for off in (0..mem.size).step_by(8) {
            self.mem_store(zero, mem, off as i32);
        }
        mem
    }

    /// A buffer whose every byte the caller writes before anything reads it; it lives until the
    /// end of the current statement.
    fn buffer_uninit(&mut self, size: usize) -> Mem {
        let size = (size.div_ceil(8).max(1) * 8) as u32;
        let base = if size <= ON_STACK_LIMIT {
            let free = self
                .buffers
                .stack
                .iter_mut()
                .find(|(_, s, used)| !*used && *s >= size);
            let slot = match free {
                Some((slot, _, used)) => {
                    *used = true;
                    *slot
                }
                None => {
                    let slot = self.b.create_sized_stack_slot(StackSlotData::new(
                        StackSlotKind::ExplicitSlot,
                        size,
                        3,
                    ));
                    self.buffers.stack.push((slot, size, true));
                    slot
                }
            };
            MemBase::Stack { slot, offset: 0 }
        } else {
            self.buffers.scratch_temps += size;
            let offset = maps::SCRATCH_BYTES.saturating_sub(self.buffers.scratch_temps);
            self.note_scratch();
            MemBase::Scratch { offset }
        };
        Mem { base, size }
    }

    /// A zeroed buffer that lives as long as the program run: a variable's home.
    fn lasting_buffer(&mut self, size: usize) -> Mem {
        let size = (size.div_ceil(8).max(1) * 8) as u32;
        let base = if size <= ON_STACK_LIMIT {
            MemBase::Stack {
                slot: self.b.create_sized_stack_slot(StackSlotData::new(
                    StackSlotKind::ExplicitSlot,
                    size,
                    3,
                )),
                offset: 0,
            }
        } else {
            let offset = self.buffers.scratch_vars;
            self.buffers.scratch_vars += size;
            self.note_scratch();
            MemBase::Scratch { offset }
        };
        let mem = Mem { base, size };
        let zero = self.iconst(0);
        for off in (0..size).step_by(8) {
            self.mem_store(zero, mem, off as i32);
        }
        mem
    }

    fn note_scratch(&mut self) {
        let b = &mut self.buffers;
        b.scratch_peak = b.scratch_peak.max(b.scratch_vars + b.scratch_temps);
    }

    /// A zeroed buffer in the per-CPU scratch value for the whole program run, whatever its size:
    /// a home that callbacks reach too.
    fn scratch_home(&mut self, size: usize) -> Mem {
        let size = (size.div_ceil(8).max(1) * 8) as u32;
        let mem = Mem {
            base: MemBase::Scratch {
                offset: self.buffers.scratch_vars,
            },
            size,
        };
        self.buffers.scratch_vars += size;
        self.note_scratch();
        let zero = self.iconst(0);
        for off in (0..size).step_by(8) {
            self.mem_store(zero, mem, off as i32);
        }
        mem
    }

    /// `for` loop bodies run as callbacks, which see the program's variables only in the scratch
    /// value: every variable they name lives there from the start (loop variables get their
    /// homes at their loop).
    fn share_loop_variables(&mut self, body: &ast::Block) {
        let mut names = HashSet::new();
        if !vars_in_for_bodies(body, &mut names) {
            return;
        }
        let mut names: Vec<String> = names.into_iter().collect();
        names.sort();
        for name in names {
            let Some(ty) = self.input.types.vars.get(&name) else {
                continue;
            };
            let home = if ty.is_int() {
                VarStore::Cell(self.scratch_home(8))
            } else {
                VarStore::Mem(self.scratch_home(ty.size()))
            };
            self.vars.insert(name, home);
        }
        self.returned = Some(self.scratch_home(8));
    }

    /// A statement starts: the previous statement's temporaries are dead.
    fn release_temporaries(&mut self) {
        for (_, _, used) in &mut self.buffers.stack {
            *used = false;
        }
        self.buffers.scratch_temps = 0;
    }

    /// The address of byte `offset` of a buffer.
    pub fn addr(&mut self, mem: Mem, offset: i32) -> ir::Value {
        match mem.base {
            MemBase::Stack { slot, offset: at } => {
                self.b
                    .ins()
                    .stack_addr(types::I64, slot, at as i32 + offset)
            }
            MemBase::Scratch { offset: at } => {
                let p = self.b.use_var(self.scratch);
                self.b
                    .ins()
                    .iadd_imm_s(p, i64::from(at) + i64::from(offset))
            }
        }
    }

    /// Stores `v` (of its own width) at byte `offset` of a buffer.
    pub fn mem_store(&mut self, v: ir::Value, mem: Mem, offset: i32) {
        match mem.base {
            MemBase::Stack { slot, offset: at } => {
                self.b
                    .ins()
                    .stack_store(types::I64, v, slot, at as i32 + offset);
            }
            MemBase::Scratch { offset: at } => {
                let p = self.b.use_var(self.scratch);
                self.b.ins().store(flags(), v, p, at as i32 + offset);
            }
        }
    }

    /// Loads the 8 bytes at `offset` of a buffer.
    pub fn mem_load(&mut self, mem: Mem, offset: i32) -> ir::Value {
        match mem.base {
            MemBase::Stack { slot, offset: at } => {
                self.b
                    .ins()
                    .stack_load(types::I64, types::I64, slot, at as i32 + offset)
            }
            MemBase::Scratch { offset: at } => {
                let p = self.b.use_var(self.scratch);
                self.b
                    .ins()
                    .load(types::I64, flags(), p, at as i32 + offset)
            }
        }
    }

    /// A value the runtime set before the programs ran.
    pub fn global(&mut self, which: maps::Global) -> ir::Value {
        let key = self.buffer(4);
        let idx = self.b.ins().iconst(types::I32, which as i64);
        self.mem_store(idx, key, 0);
        let globals = self.input.maps.globals;
        let p = self.lookup(globals, key);
        self.load_u64_or_zero(p)
    }

    /// The u64 at map value `p` (a lookup's result), or 0 when the lookup found nothing.
    fn load_u64_or_zero(&mut self, p: ir::Value) -> ir::Value {
        let out = self.b.declare_var(types::I64);
        let zero = self.iconst(0);
        self.b.def_var(out, zero);
        let found = self.b.create_block();
        let done = self.b.create_block();
        self.b.ins().brif(p, found, &[], done, &[]);
        self.b.switch_to_block(found);
        let v = self.b.ins().load(types::I64, flags(), p, 0);
        self.b.def_var(out, v);
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
        self.b.use_var(out)
    }

    /// A string constant in a fresh buffer.
    pub fn str_const(&mut self, bytes: &[u8]) -> Val {
        let slot = self.buffer(bytes.len() + 1);
        for (i, chunk) in bytes.chunks(8).enumerate() {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            let v = self.iconst(i64::from_le_bytes(word));
            self.mem_store(v, slot, (i * 8) as i32);
        }
        Val::Mem(slot)
    }

    /// The current process id (the kernel's thread-group id).
    pub fn current_pid(&mut self) -> ir::Value {
        let v = self.helper(helper::GET_CURRENT_PID_TGID, &[]);
        self.b.ins().ushr_imm_s(v, 32)
    }

    /// A constant `buf`: its length, then the bytes.
    fn constant_buf(&mut self, bytes: &[u8]) -> Val {
        let slot = self.buffer(8 + bytes.len());
        let n = self.iconst(bytes.len() as i64);
        self.mem_store(n, slot, 0);
        for (i, chunk) in bytes.chunks(8).enumerate() {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            let v = self.iconst(i64::from_le_bytes(word));
            self.mem_store(v, slot, 8 + (i * 8) as i32);
        }
        Val::Mem(slot)
    }

    /// Whether pointers this probe sees point into user memory (uprobes, syscall arguments).
    fn reads_user_memory(&self) -> bool {
        matches!(
            self.input.attach.class(),
            ProbeClass::Uprobe | ProbeClass::Uretprobe
        ) || matches!(self.input.attach, Attach::Tracepoint { category, .. } if category == "syscalls")
    }

    // ----- internals -----

    fn load_int(&mut self, ptr: ir::Value, offset: i32, bits: u8, signed: bool) -> ir::Value {
        let ins = self.b.ins();
        match (bits, signed) {
            (64, _) => ins.load(types::I64, flags(), ptr, offset),
            (32, false) => ins.uload32(flags(), ptr, offset),
            (32, true) => ins.sload32(flags(), ptr, offset),
            (16, false) => ins.uload16(types::I64, flags(), ptr, offset),
            (16, true) => ins.sload16(types::I64, flags(), ptr, offset),
            (8, false) => ins.uload8(types::I64, flags(), ptr, offset),
            (8, true) => ins.sload8(types::I64, flags(), ptr, offset),
            _ => panic!("bug: load of {bits} bits"),
        }
    }

    fn map_ptr(&mut self, map: u32) -> ir::Value {
        let gv = match self.map_symbols.get(&map) {
            Some(gv) => *gv,
            None => {
                let name = self
                    .b
                    .func
                    .declare_imported_user_function(UserExternalName {
                        namespace: 1,
                        index: map,
                    });
                let gv = self.b.create_global_value(GlobalValueData::Symbol {
                    name: ExternalName::User(name),
                    offset: 0.into(),
                    colocated: false,
                    tls: false,
                });
                self.map_symbols.insert(map, gv);
                gv
            }
        };
        self.b.ins().symbol_value(types::I64, gv)
    }

    fn ty(&self, e: &Expr) -> &'a Type {
        self.input.types.of(e)
    }

    fn block(&mut self, block: &ast::Block) {
        for s in &block.stmts {
            if self.in_block_expr == 0 {
                self.release_temporaries();
            }
            self.stmt(s);
        }
    }

    fn stmt(&mut self, s: &Stmt) {
        match &s.kind {
            StmtKind::Expr(e) => {
                self.expr(e);
            }
            StmtKind::If { cond, then, els } => {
                let c = self.int(cond);
                let then_block = self.b.create_block();
                let else_block = self.b.create_block();
                let join = self.b.create_block();
                self.b.ins().brif(c, then_block, &[], else_block, &[]);
                self.b.switch_to_block(then_block);
                self.block(then);
                self.b.ins().jump(join, &[]);
                self.b.switch_to_block(else_block);
                if let Some(els) = els {
                    self.block(els);
                }
                self.b.ins().jump(join, &[]);
                self.b.switch_to_block(join);
            }
            StmtKind::Let { name, value } => {
                if let Some(value) = value {
                    let v = self.expr(value);
                    let ty = self
                        .input
                        .types
                        .vars
                        .get(name)
                        .cloned()
                        .unwrap_or(Type::I64);
                    self.write_var(name, &v, &ty);
                }
            }
            StmtKind::Return(value) => {
                if let Some(value) = value {
                    self.expr(value);
                }
                self.jump_away(self.exit);
            }
            StmtKind::While { cond, body } => {
                let header = self.b.create_block();
                let inside = self.b.create_block();
                let after = self.b.create_block();
                self.b.ins().jump(header, &[]);
                self.b.switch_to_block(header);
                let c = self.int(cond);
                self.b.ins().brif(c, inside, &[], after, &[]);
                self.b.switch_to_block(inside);
                self.loop_body(body, after, header);
                self.b.ins().jump(header, &[]);
                self.b.switch_to_block(after);
            }
            StmtKind::Unroll { count, body } => {
                let n = match &count.kind {
                    ExprKind::Positional(n) => match self.input.options.positional_value(*n) {
                        Positional::Int(v) => v,
                        Positional::Str(_) => 0,
                    },
                    _ => crate::sema::constant(count).expect("bug: unchecked unroll count"),
                };
                for _ in 0..n {
                    self.block(body);
                }
            }
            StmtKind::For {
                var, iter, body, ..
            } => self.for_loop(var, iter, body),
            StmtKind::Break => {
                let target = self.loops.last().expect("bug: break outside a loop").exit;
                self.jump_away(target);
            }
            StmtKind::Continue => {
                let target = self
                    .loops
                    .last()
                    .expect("bug: continue outside a loop")
                    .next;
                self.jump_away(target);
            }
            StmtKind::Assign { target, op, value } => self.assign_stmt(target, *op, value),
        }
    }

    fn assign_stmt(&mut self, target: &Expr, op: Option<BinOp>, value: &Expr) {
        match &value.kind {
            ExprKind::Call { name, args, .. }
                if let Some(f) = self.input.catalogue.function(name)
                    && let FunctionKind::Aggregation(kind) = f.kind =>
            {
                self.aggregate(target, kind, args)
            }
            // `@m = { statements; count() }` (sema typed the block void).
            ExprKind::Block {
                stmts,
                value: Some(tail),
                ..
            } if *self.ty(value) == Type::Void => {
                self.block_stmts(stmts);
                self.assign_stmt(target, op, tail);
            }
            _ => {
                self.assign(target, op, value);
            }
        }
    }

    /// `for ($var : ...) { body }`: the body becomes a callback that `bpf_loop` (ranges) or
    /// `bpf_for_each_map_elem` (maps) calls; it returns 1 to stop early.
    fn for_loop(&mut self, var: &str, iter: &ForIter, body: &ast::Block) {
        let (kind, var_home, start, element, count_or_map) = match iter {
            ForIter::Range { start, end } => {
                let start = self.int(start);
                let end = self.int(end);
                let cell = self.scratch_home(8);
                self.mem_store(start, cell, 0);
                // end excluded; an empty range runs no round.
                let more = self.b.ins().icmp(IntCC::SignedGreaterThan, end, start);
                let span = self.b.ins().isub(end, start);
                let zero = self.iconst(0);
                let count = self.b.ins().select(more, span, zero);
                let home = VarStore::Cell(self.scratch_home(8));
                (CallbackKind::Loop, home, Some(cell), None, count)
            }
            ForIter::Map(map) => {
                let ExprKind::Map { name, .. } = &map.kind else {
                    panic!("bug: unchecked for loop over {map:?}")
                };
                let index = self.map_index(name);
                let layout = &self.input.maps.layouts[index as usize];
                let element = (layout.key_size, layout.value_size);
                let home = VarStore::Mem(self.scratch_home((element.0 + element.1) as usize));
                let map = self.map_ptr(index);
                (CallbackKind::ForEachMapElem, home, None, Some(element), map)
            }
        };
        let ctx_home = match self.ctx_home {
            Some(home) => home,
            None => {
                let slot = self.b.create_sized_stack_slot(StackSlotData::new(
                    StackSlotKind::ExplicitSlot,
                    8,
                    3,
                ));
                let ctx = self.ctx;
                self.b.ins().stack_store(types::I64, ctx, slot, 0);
                self.b.ins().stack_addr(types::I64, slot, 0)
            }
        };
        let returned = self
            .returned
            .expect("bug: a for loop without a return flag");
        let zero = self.iconst(0);
        self.mem_store(zero, returned, 0);
        let callback = self.callback(kind, var, var_home, start, element, body);
        let callee = self.callback_ref(callback, kind);
        let f = self.b.ins().func_addr(types::I64, callee);
        let flags = self.iconst(0);
        let helper = match kind {
            CallbackKind::Loop => helper::LOOP,
            CallbackKind::ForEachMapElem => helper::FOR_EACH_MAP_ELEM,
        };
        self.helper(helper, &[count_or_map, f, ctx_home, flags]);
        let stopped = self.mem_load(returned, 0);
        let after = self.b.create_block();
        self.b.ins().brif(stopped, self.exit, &[], after, &[]);
        self.b.switch_to_block(after);
    }

    /// `len(@m)`: the number of elements, counted by `bpf_for_each_map_elem` with a callback
    /// that only goes on, as bpftrace's `__elem_count` does on kernels without the
    /// `bpf_map_sum_elem_count` kfunc.
    fn map_len(&mut self, index: u32) -> ir::Value {
        let kind = CallbackKind::ForEachMapElem;
        let callback = {
            let mut callbacks = self.callbacks.borrow_mut();
            let number = callbacks.len() as u32;
            let mut func = ir::Function::with_name_signature(
                UserFuncName::user(2, number),
                callback_signature(kind),
            );
            let mut fctx = FunctionBuilderContext::new();
            let mut b = FunctionBuilder::new(&mut func, &mut fctx);
            let entry = b.create_block();
            b.append_block_params_for_function_params(entry);
            b.switch_to_block(entry);
            let go_on = b.ins().iconst(types::I64, 0);
            b.ins().return_(&[go_on]);
            b.seal_all_blocks();
            b.finalize(frontend_config());
            callbacks.push((func, kind));
            number
        };
        let callee = self.callback_ref(callback, kind);
        let f = self.b.ins().func_addr(types::I64, callee);
        let map = self.map_ptr(index);
        let no_ctx = self.iconst(0);
        let flags = self.iconst(0);
        self.helper(helper::FOR_EACH_MAP_ELEM, &[map, f, no_ctx, flags])
    }

    /// A reference to callback `index` for `func_addr`.
    fn callback_ref(&mut self, index: u32, kind: CallbackKind) -> FuncRef {
        let name = self
            .b
            .func
            .declare_imported_user_function(UserExternalName {
                namespace: 2,
                index,
            });
        let signature = self.b.import_signature(callback_signature(kind));
        self.b.import_function(ExtFuncData {
            name: ExternalName::User(name),
            signature,
            colocated: true,
            patchable: false,
        })
    }

    /// Lowers a loop body into a new callback function; returns its index.
    fn callback(
        &mut self,
        kind: CallbackKind,
        var: &str,
        var_home: VarStore,
        start: Option<Mem>,
        element: Option<(u32, u32)>,
        body: &ast::Block,
    ) -> u32 {
        let index = {
            let mut callbacks = self.callbacks.borrow_mut();
            callbacks.push((ir::Function::new(), kind));
            callbacks.len() as u32 - 1
        };
        let mut func = ir::Function::with_name_signature(
            UserFuncName::user(2, index),
            callback_signature(kind),
        );
        let mut fctx = FunctionBuilderContext::new();
        let mut b = FunctionBuilder::new(&mut func, &mut fctx);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        let params = b.block_params(entry).to_vec();
        let ctx_home = *params.last().expect("bug: callback without arguments");
        let inside = b.create_block();
        let next = b.create_block();
        let stop = b.create_block();
        let ended = b.create_block();
        let scratch = b.declare_var(types::I64);
        b.switch_to_block(entry);
        let ctx = b.ins().load(types::I64, flags(), ctx_home, 0);
        let vars = self
            .vars
            .iter()
            .filter(|(_, home)| home.shared())
            .map(|(name, home)| (name.clone(), *home))
            .collect();
        let mut cx = Lowerer {
            b,
            input: self.input,
            ctx,
            vars,
            helpers: HashMap::new(),
            map_symbols: HashMap::new(),
            scratch,
            // Below the caller's live scratch temporaries (a loop inside a block expression).
            buffers: Buffers {
                scratch_vars: self.buffers.scratch_vars,
                scratch_temps: self.buffers.scratch_temps,
                scratch_peak: self.buffers.scratch_peak,
                ..Buffers::default()
            },
            exit: ended,
            loops: vec![LoopTargets { exit: stop, next }],
            in_block_expr: self.in_block_expr,
            callbacks: self.callbacks.clone(),
            ctx_home: Some(ctx_home),
            returned: self.returned,
            btf_pointers: HashSet::new(),
            loaded_pointers: HashSet::new(),
            dereferenced: false,
        };
        // The scratch value, which holds the shared variables.
        let key =
            cx.b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, 8, 3));
        let zero = cx.iconst(0);
        cx.b.ins().stack_store(types::I64, zero, key, 0);
        let scratch_map = cx.input.maps.scratch;
        let map = cx.map_ptr(scratch_map);
        let k = cx.b.ins().stack_addr(types::I64, key, 0);
        let p = cx.helper(helper::MAP_LOOKUP_ELEM, &[map, k]);
        cx.b.def_var(scratch, p);
        cx.b.ins().brif(p, inside, &[], stop, &[]);

        cx.b.switch_to_block(inside);
        match (var_home, start, element) {
            (VarStore::Cell(home), Some(start), None) => {
                let first = cx.mem_load(start, 0);
                let i = cx.b.ins().iadd(first, params[0]);
                cx.mem_store(i, home, 0);
            }
            (VarStore::Mem(home), None, Some((key_size, value_size))) => {
                for (ptr, from, size) in
                    [(params[1], 0, key_size), (params[2], key_size, value_size)]
                {
                    for off in (0..size).step_by(8) {
                        let v = cx.b.ins().load(types::I64, flags(), ptr, off as i32);
                        cx.mem_store(v, home, (from + off) as i32);
                    }
                }
            }
            _ => panic!("bug: loop variable of the wrong kind"),
        }
        cx.vars.insert(var.to_string(), var_home);
        cx.block(body);
        cx.b.ins().jump(next, &[]);

        cx.b.switch_to_block(next);
        let zero = cx.iconst(0);
        cx.b.ins().return_(&[zero]);
        cx.b.switch_to_block(stop);
        let one = cx.iconst(1);
        cx.b.ins().return_(&[one]);
        cx.b.switch_to_block(ended);
        let one = cx.iconst(1);
        let returned = cx.returned.expect("bug: a callback without a return flag");
        cx.mem_store(one, returned, 0);
        cx.b.ins().return_(&[one]);

        self.buffers.scratch_peak = self.buffers.scratch_peak.max(cx.buffers.scratch_peak);
        cx.b.seal_all_blocks();
        cx.b.finalize(frontend_config());
        self.callbacks.borrow_mut()[index as usize] = (func, kind);
        index
    }

    /// `tuple.N`: the N-th element, read from the tuple's buffer.
    fn tuple_field(&mut self, tuple: &Expr, field: &str) -> Val {
        let Type::Tuple(items) = self.ty(tuple) else {
            panic!("bug: element of a non-tuple")
        };
        let index: usize = field.parse().expect("bug: unchecked tuple index");
        let offset = Type::field_offsets(items)[index];
        let item = &items[index];
        let Val::Mem(mem) = self.expr(tuple) else {
            panic!("bug: a tuple not in memory")
        };
        let element = Self::sub(mem, offset, item.size());
        if item.is_int() {
            Val::Int(self.mem_load(element, 0))
        } else {
            Val::Mem(element)
        }
    }

    /// Jumps to `target`; what follows in the same block is never run.
    fn jump_away(&mut self, target: ir::Block) {
        self.b.ins().jump(target, &[]);
        let after = self.b.create_block();
        self.b.switch_to_block(after);
    }

    /// A loop's body, with `break` going to `exit` and `continue` to `next`.
    fn loop_body(&mut self, body: &ast::Block, exit: ir::Block, next: ir::Block) {
        self.loops.push(LoopTargets { exit, next });
        self.block(body);
        self.loops.pop();
    }

    /// The statements of a block expression. They share the enclosing statement's temporaries,
    /// which may still be in use around the block.
    fn block_stmts(&mut self, stmts: &[Stmt]) {
        self.in_block_expr += 1;
        for s in stmts {
            self.stmt(s);
        }
        self.in_block_expr -= 1;
    }

    /// Evaluates `value` (combined with the old value under `op`) and stores it in `target`;
    /// returns the stored value.
    fn assign(&mut self, target: &Expr, op: Option<BinOp>, value: &Expr) -> Val {
        let new = match op {
            None => self.expr(value),
            Some(op) => {
                let old = self.read_target(target);
                let mut rhs = self.int(value);
                if matches!(op, BinOp::Add | BinOp::Sub) {
                    let t = self.ty(target);
                    rhs = self.scale(rhs, t);
                }
                let signed = self.ty(value).is_signed() || self.ty(target).is_signed();
                Val::Int(self.binary_int(op, old, rhs, signed))
            }
        };
        let value_ty = if op.is_some() {
            Type::I64
        } else {
            self.ty(value).clone()
        };
        self.write_target(target, &new, &value_ty);
        new
    }

    fn read_target(&mut self, target: &Expr) -> ir::Value {
        match &target.kind {
            ExprKind::Var(name) => match self.vars.get(name).copied() {
                Some(VarStore::Reg(v)) => self.b.use_var(v),
                Some(VarStore::Cell(cell)) => self.mem_load(cell, 0),
                Some(VarStore::Mem(slot)) => self.mem_load(slot, 0),
                _ => self.iconst(0),
            },
            ExprKind::Map { name, keys } => {
                let Val::Int(v) = self.map_read(name, keys, &Type::I64) else {
                    panic!("bug: integer map read gave memory")
                };
                v
            }
            _ => panic!("bug: unchecked assignment target"),
        }
    }

    /// Stores `value`, laid out as `value_ty`, in a variable or map.
    fn write_target(&mut self, target: &Expr, value: &Val, value_ty: &Type) {
        match &target.kind {
            ExprKind::Var(name) => self.write_var(name, value, value_ty),
            ExprKind::Map { name, keys } => {
                let index = self.map_index(name);
                let layout = self.input.maps.layouts[index as usize].clone();
                let (key, _) = self.map_key(index, keys, None);
                let slot = self.buffer(layout.value_size as usize);
                let MapValue::Plain(map_ty) = &self.input.tables.maps[index as usize].value else {
                    panic!("bug: assignment to an aggregation")
                };
                let map_ty = map_ty.clone();
                self.store_typed(slot, 0, value, value_ty, &map_ty);
                let map = self.map_ptr(index);
                let k = self.addr(key, 0);
                let v = self.addr(slot, 0);
                let any = self.iconst(0);
                let rc = self.helper(helper::MAP_UPDATE_ELEM, &[map, k, v, any]);
                self.count_failure(rc, 1 + index);
            }
            _ => panic!("bug: unchecked assignment target"),
        }
    }

    /// Stores `value`, laid out as `value_ty`, in a variable.
    fn write_var(&mut self, name: &str, value: &Val, value_ty: &Type) {
        let var_ty = self
            .input
            .types
            .vars
            .get(name)
            .cloned()
            .unwrap_or_else(|| value_ty.clone());
        match (self.vars.get(name), value) {
            (Some(VarStore::Mem(slot)), Val::Int(x)) => {
                let slot = *slot;
                self.mem_store(*x, slot, 0);
            }
            (None, Val::Int(x)) if self.input.types.addressed.contains(name) => {
                let slot = self.lasting_buffer(8);
                self.mem_store(*x, slot, 0);
                self.vars.insert(name.to_string(), VarStore::Mem(slot));
            }
            (Some(VarStore::Reg(v)), Val::Int(x)) => {
                let v = *v;
                self.b.def_var(v, *x);
            }
            (Some(VarStore::Cell(cell)), Val::Int(x)) => {
                let cell = *cell;
                self.mem_store(*x, cell, 0);
            }
            (Some(VarStore::Mem(slot)), Val::Mem(src)) if *value_ty != var_ty => {
                let (slot, src) = (*slot, *src);
                let zero = self.iconst(0);
                for off in (0..slot.size).step_by(8) {
                    self.mem_store(zero, slot, off as i32);
                }
                self.store_typed(slot, 0, &Val::Mem(src), value_ty, &var_ty);
            }
            (Some(VarStore::Mem(slot)), Val::Mem(src)) => {
                let (slot, src) = (*slot, *src);
                self.overwrite(slot, src);
            }
            (None, Val::Int(x)) => {
                let v = self.b.declare_var(types::I64);
                self.b.def_var(v, *x);
                self.vars.insert(name.to_string(), VarStore::Reg(v));
            }
            (None, Val::Mem(src)) => {
                // Sized for every value the variable takes (sema widened its type).
                let slot = self.lasting_buffer(var_ty.size());
                if *value_ty == var_ty {
                    self.overwrite(slot, *src);
                } else {
                    self.store_typed(slot, 0, &Val::Mem(*src), value_ty, &var_ty);
                }
                self.vars.insert(name.to_string(), VarStore::Mem(slot));
            }
            _ => panic!("bug: variable ${name} changed kind"),
        }
    }

    fn map_index(&self, name: &str) -> u32 {
        self.input
            .tables
            .map_index(name)
            .unwrap_or_else(|| panic!("bug: unknown map {name}")) as u32
    }

    /// Builds the key of a map access in a fresh buffer: the script's key, then the histogram
    /// bucket for keyed histograms; a scalar map's key is zero (array index or hash key 0).
    fn map_key(&mut self, index: u32, keys: &[Expr], bucket: Option<ir::Value>) -> (Mem, usize) {
        let layout = self.input.maps.layouts[index as usize].clone();
        let size = layout.key_size as usize;
        let info = &self.input.tables.maps[index as usize];
        let Some(key_ty) = info.key.clone() else {
            // A scalar map: array index (the bucket, or 0) or hash key 0; every byte is written.
            let slot = self.buffer_uninit(size);
            match bucket {
                Some(b) if size == 4 => {
                    let b32 = self.b.ins().ireduce(types::I32, b);
                    self.mem_store(b32, slot, 0);
                }
                // A scalar tseries: the slot is the whole hash key.
                Some(b) => self.mem_store(b, slot, 0),
                None if size == 4 => {
                    let zero = self.b.ins().iconst(types::I32, 0);
                    self.mem_store(zero, slot, 0);
                }
                None => {
                    let zero = self.iconst(0);
                    self.mem_store(zero, slot, 0);
                }
            }
            return (slot, size);
        };
        if let ([single], None) = (keys, bucket) {
            let v = self.expr(single);
            // A buffer of exactly the key's type serves as the key itself.
            if let Val::Mem(m) = v
                && m.size as usize == size
                && self.ty(single) == &key_ty
            {
                return (m, size);
            }
            let slot = self.key_buffer(&key_ty, size);
            let src_ty = self.ty(single).clone();
            self.store_typed(slot, 0, &v, &src_ty, &key_ty);
            return (slot, size);
        }
        let slot = self.key_buffer(&key_ty, size);
        match keys {
            [single] => {
                let v = self.expr(single);
                self.store_val(slot, 0, &v, &key_ty);
            }
            many => {
                let Type::Tuple(fields) = &key_ty else {
                    panic!("bug: several keys but no tuple type")
                };
                let offsets = Type::field_offsets(fields);
                for ((k, field), off) in many.iter().zip(fields).zip(offsets) {
                    let v = self.expr(k);
                    let src_ty = self.ty(k).clone();
                    self.store_typed(slot, off, &v, &src_ty, field);
                }
            }
        }
        if let Some(b) = bucket {
            self.mem_store(b, slot, key_ty.size() as i32);
        }
        (slot, size)
    }

    /// A buffer for a key of type `ty`: integers fill their 8 bytes, so only keys with strings
    /// need zeroing first (the padding after a string's NUL is part of the key).
    fn key_buffer(&mut self, ty: &Type, size: usize) -> Mem {
        fn all_ints(t: &Type) -> bool {
            match t {
                Type::Int { .. } | Type::Bool => true,
                Type::Tuple(fields) => fields.iter().all(all_ints),
                _ => false,
            }
        }
        if all_ints(ty) {
            self.buffer_uninit(size)
        } else {
            self.buffer(size)
        }
    }

    /// Stores `value` of type `ty` at `slot + offset`, truncating or padding strings.
    fn store_val(&mut self, slot: Mem, offset: usize, value: &Val, ty: &Type) {
        match value {
            Val::Int(v) => {
                self.mem_store(*v, slot, offset as i32);
            }
            Val::Mem(src) => {
                let size = ty.size().min(src.size as usize);
                self.copy(slot, offset, *src, size);
                if let Type::Str { len } = ty {
                    // Keep a NUL at the end of a truncated string.
                    if size >= *len && *len > 0 {
                        let zero = self.b.ins().iconst(types::I8, 0);
                        self.mem_store(zero, slot, (offset + len - 1) as i32);
                    }
                }
            }
            Val::None => panic!("bug: storing a value-less expression"),
        }
    }

    /// `size` bytes of `mem` from `offset`.
    fn sub(mem: Mem, offset: usize, size: usize) -> Mem {
        let base = match mem.base {
            MemBase::Stack { slot, offset: at } => MemBase::Stack {
                slot,
                offset: at + offset as u32,
            },
            MemBase::Scratch { offset: at } => MemBase::Scratch {
                offset: at + offset as u32,
            },
        };
        Mem {
            base,
            size: size as u32,
        }
    }

    /// Stores a value laid out as `src_ty` where `ty` is expected: the same as `store_val`
    /// unless they are tuples whose fields moved (a string field widened by a later use).
    fn store_typed(&mut self, dst: Mem, offset: usize, value: &Val, src_ty: &Type, ty: &Type) {
        match (value, src_ty, ty) {
            (Val::Mem(m), Type::Tuple(from), Type::Tuple(to)) if from != to => {
                let from_offsets = Type::field_offsets(from);
                let to_offsets = Type::field_offsets(to);
                for i in 0..from.len().min(to.len()) {
                    let field = Self::sub(*m, from_offsets[i], from[i].size());
                    let v = if from[i].is_int() {
                        Val::Int(self.mem_load(field, 0))
                    } else {
                        Val::Mem(field)
                    };
                    self.store_typed(dst, offset + to_offsets[i], &v, &from[i], &to[i]);
                }
            }
            _ => self.store_val(dst, offset, value, ty),
        }
    }

    /// Replaces the whole of `dst` with `src`: copied as far as it goes, zeros after.
    fn overwrite(&mut self, dst: Mem, src: Mem) {
        let n = dst.size.min(src.size) as usize;
        self.copy(dst, 0, src, n);
        if dst.size as usize > n {
            let zero = self.iconst(0);
            for off in (n..dst.size as usize).step_by(8) {
                self.mem_store(zero, dst, off as i32);
            }
        }
    }

    fn copy(&mut self, dst: Mem, dst_off: usize, src: Mem, size: usize) {
        for off in (0..size).step_by(8) {
            let v = self.mem_load(src, off as i32);
            self.mem_store(v, dst, (dst_off + off) as i32);
        }
    }

    /// `map_lookup_elem(map, &key)`: a pointer to the value, or 0.
    fn lookup(&mut self, map: u32, key: Mem) -> ir::Value {
        let m = self.map_ptr(map);
        let k = self.addr(key, 0);
        self.helper(helper::MAP_LOOKUP_ELEM, &[m, k])
    }

    /// Counts a failed helper call (non-zero `rc`) in counter slot `slot`.
    fn count_failure(&mut self, rc: ir::Value, slot: u32) {
        let failed = self.b.create_block();
        let done = self.b.create_block();
        self.b.ins().brif(rc, failed, &[], done, &[]);
        self.b.switch_to_block(failed);
        let counters = self.input.maps.counters;
        self.bump_counter(counters, slot);
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
    }

    fn bump_counter(&mut self, map: u32, slot: u32) {
        let key = self.buffer(4);
        let idx = self.b.ins().iconst(types::I32, slot as i64);
        self.mem_store(idx, key, 0);
        let p = self.lookup(map, key);
        let found = self.b.create_block();
        let done = self.b.create_block();
        self.b.ins().brif(p, found, &[], done, &[]);
        self.b.switch_to_block(found);
        let old = self.b.ins().load(types::I64, flags(), p, 0);
        let new = self.b.ins().iadd_imm_s(old, 1);
        self.b.ins().store(flags(), new, p, 0);
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
    }

    fn aggregate(&mut self, target: &Expr, kind: AggKind, args: &[Expr]) {
        let ExprKind::Map { name, keys } = &target.kind else {
            panic!("bug: aggregation into a non-map")
        };
        let index = self.map_index(name);
        let info = &self.input.tables.maps[index as usize];
        let MapValue::Agg { signed, params, .. } = info.value else {
            panic!("bug: aggregation into a plain map")
        };
        if kind == AggKind::Tseries {
            return self.tseries(index, keys, args, signed, params);
        }
        let layout = self.input.maps.layouts[index as usize].clone();
        let value = match args.first() {
            Some(a) => self.int(a),
            None => self.iconst(1),
        };
        let bucket = match kind {
            AggKind::Hist => Some(self.hist_bucket(value, params.hist_bits)),
            AggKind::Lhist => Some(self.lhist_bucket(
                value,
                params.lhist_min,
                params.lhist_max,
                params.lhist_step,
            )),
            _ => None,
        };
        let (key, _) = self.map_key(index, keys, bucket);
        let p = self.lookup(index, key);
        let found = self.b.create_block();
        let missing = self.b.create_block();
        let done = self.b.create_block();
        self.b.ins().brif(p, found, &[], missing, &[]);

        // Found: update the value in place, no map-update call on the hot path.
        self.b.switch_to_block(found);
        let load = |lx: &mut Self, off: i32| lx.b.ins().load(types::I64, flags(), p, off);
        match kind {
            AggKind::Count | AggKind::Hist | AggKind::Lhist => {
                let old = load(self, 0);
                let new = self.b.ins().iadd_imm_s(old, 1);
                self.b.ins().store(flags(), new, p, 0);
            }
            AggKind::Tseries => unreachable!("tseries is lowered on its own"),
            AggKind::Sum => {
                let old = load(self, 0);
                let new = self.b.ins().iadd(old, value);
                self.b.ins().store(flags(), new, p, 0);
            }
            AggKind::Avg | AggKind::Stats => {
                let count = load(self, 0);
                let count = self.b.ins().iadd_imm_s(count, 1);
                self.b.ins().store(flags(), count, p, 0);
                let total = load(self, 8);
                let total = self.b.ins().iadd(total, value);
                self.b.ins().store(flags(), total, p, 8);
            }
            AggKind::Min | AggKind::Max => {
                self.min_max_update(p, value, kind == AggKind::Min, signed, done);
            }
        }
        self.b.ins().jump(done, &[]);

        // Missing: insert the first value. Arrays always have their slots.
        self.b.switch_to_block(missing);
        if layout.kind == MapKind::PercpuHash {
            let init = self.buffer(layout.value_size as usize);
            let one = self.iconst(1);
            match kind {
                AggKind::Count | AggKind::Hist | AggKind::Lhist => {
                    self.mem_store(one, init, 0);
                }
                AggKind::Tseries => unreachable!("tseries is lowered on its own"),
                AggKind::Sum => {
                    self.mem_store(value, init, 0);
                }
                AggKind::Avg | AggKind::Stats => {
                    self.mem_store(one, init, 0);
                    self.mem_store(value, init, 8);
                }
                AggKind::Min | AggKind::Max => {
                    self.mem_store(value, init, 0);
                    self.mem_store(one, init, 8);
                }
            }
            let map = self.map_ptr(index);
            let k = self.addr(key, 0);
            let v = self.addr(init, 0);
            let any = self.iconst(0);
            let rc = self.helper(helper::MAP_UPDATE_ELEM, &[map, k, v, any]);
            self.count_failure(rc, 1 + index);
        }
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
    }

    /// `@m[k] = tseries(v, interval, n[, agg])`, as bpftrace's codegen does it: the interval's
    /// epoch is now / interval and its slot `epoch % n` (in the key, after the script's key).
    /// A slot still holding an older epoch starts over; the default keeps the last value and its
    /// time (the time decides between CPUs), avg/sum add, min/max compare. Found slots are
    /// updated in place.
    fn tseries(
        &mut self,
        index: u32,
        keys: &[Expr],
        args: &[Expr],
        signed: bool,
        params: crate::sema::AggParams,
    ) {
        use crate::types::TseriesAgg;
        let value = self.int(&args[0]);
        let now = self.tseries_now();
        let interval = self.iconst(params.tseries_interval_ns as i64);
        let epoch = self.b.ins().udiv(now, interval);
        let intervals = self.iconst(params.tseries_intervals as i64);
        let slot = self.b.ins().urem(epoch, intervals);
        let (key, _) = self.map_key(index, keys, Some(slot));
        let p = self.lookup(index, key);
        let found = self.b.create_block();
        let missing = self.b.create_block();
        let update = self.b.create_block();
        let updated = self.b.create_block();
        let done = self.b.create_block();
        self.b.ins().brif(p, found, &[], missing, &[]);

        self.b.switch_to_block(found);
        let agg = params.tseries_agg;
        if agg == TseriesAgg::Last {
            self.b.ins().jump(update, &[]);
        } else {
            let old_epoch = self.b.ins().load(types::I64, flags(), p, 16);
            let stale = self.b.ins().icmp(IntCC::NotEqual, old_epoch, epoch);
            let restart = self.b.create_block();
            self.b.ins().brif(stale, restart, &[], update, &[]);
            self.b.switch_to_block(restart);
            let zero = self.iconst(0);
            self.b.ins().store(flags(), zero, p, 0);
            self.b.ins().store(flags(), zero, p, 8);
            self.b.ins().jump(update, &[]);
        }
        self.b.switch_to_block(update);
        let load = |lx: &mut Self, off: i32| lx.b.ins().load(types::I64, flags(), p, off);
        match agg {
            TseriesAgg::Last => {
                self.b.ins().store(flags(), value, p, 0);
                self.b.ins().store(flags(), now, p, 8);
            }
            TseriesAgg::Sum | TseriesAgg::Avg => {
                let old = load(self, 0);
                let new = self.b.ins().iadd(old, value);
                self.b.ins().store(flags(), new, p, 0);
                if agg == TseriesAgg::Avg {
                    let count = load(self, 8);
                    let count = self.b.ins().iadd_imm_s(count, 1);
                    self.b.ins().store(flags(), count, p, 8);
                }
            }
            TseriesAgg::Min | TseriesAgg::Max => {
                self.min_max_update(p, value, agg == TseriesAgg::Min, signed, updated);
            }
        }
        self.b.ins().jump(updated, &[]);
        self.b.switch_to_block(updated);
        self.b.ins().store(flags(), epoch, p, 16);
        self.b.ins().jump(done, &[]);

        // Missing: the slot's first value.
        self.b.switch_to_block(missing);
        let init = self.buffer(maps::TSERIES_VALUE_SIZE as usize);
        self.mem_store(value, init, 0);
        let meta = match agg {
            TseriesAgg::Last => now,
            TseriesAgg::Sum => self.iconst(0),
            TseriesAgg::Avg | TseriesAgg::Min | TseriesAgg::Max => self.iconst(1),
        };
        self.mem_store(meta, init, 8);
        self.mem_store(epoch, init, 16);
        let map = self.map_ptr(index);
        let k = self.addr(key, 0);
        let v = self.addr(init, 0);
        let any = self.iconst(0);
        let rc = self.helper(helper::MAP_UPDATE_ELEM, &[map, k, v, any]);
        self.count_failure(rc, 1 + index);
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
    }

    /// The clock of `tseries`: bpftrace's sw_tai (boot time plus the TAI offset user space
    /// measured), or, for tests, the scalar map `Options::dummy_ts_map` names (bpftrace's
    /// BPFTRACE_DUMMY_TS_MAP), 0 while it is unset.
    fn tseries_now(&mut self) -> ir::Value {
        let dummy = self.input.options.dummy_ts_map.as_deref().and_then(|name| {
            let i = self.input.tables.map_index(name)?;
            let info = &self.input.tables.maps[i];
            let unsigned = matches!(info.value, MapValue::Plain(Type::Int { signed: false, .. }));
            (info.key.is_none() && unsigned).then_some(i as u32)
        });
        let Some(index) = dummy else {
            let boot = self.helper(helper::KTIME_GET_BOOT_NS, &[]);
            let offset = self.global(maps::Global::SwTaiOffset);
            return self.b.ins().iadd(boot, offset);
        };
        let (key, _) = self.map_key(index, &[], None);
        let p = self.lookup(index, key);
        self.load_u64_or_zero(p)
    }

    /// A min or max slot at `p` (value, then a set flag) takes `value` when it is better or
    /// the slot is unset; either way control goes on at `after`.
    fn min_max_update(
        &mut self,
        p: ir::Value,
        value: ir::Value,
        min: bool,
        signed: bool,
        after: ir::Block,
    ) {
        let old = self.b.ins().load(types::I64, flags(), p, 0);
        let set = self.b.ins().load(types::I64, flags(), p, 8);
        let op = if min { BinOp::Lt } else { BinOp::Gt };
        let better = self.b.ins().icmp(compare_cc(op, signed), value, old);
        let unset = self.b.ins().icmp_imm_s(IntCC::Equal, set, 0);
        let take = self.b.ins().bor(better, unset);
        let store = self.b.create_block();
        self.b.ins().brif(take, store, &[], after, &[]);
        self.b.switch_to_block(store);
        self.b.ins().store(flags(), value, p, 0);
        let one = self.iconst(1);
        self.b.ins().store(flags(), one, p, 8);
    }

    /// bpftrace's log2 bucket (its `createLog2Function`), with mask = 2^bits - 1: 0 for
    /// negatives; v + 1 for 0 <= v <= mask; otherwise, with l = floor(log2 v) and
    /// shift = l - bits, ((shift + 1) << bits) + ((v >> shift) & mask) + 1.
    fn hist_bucket(&mut self, v: ir::Value, bits: u8) -> ir::Value {
        let mask = (1i64 << bits) - 1;
        let result = self.b.declare_var(types::I64);
        let zero = self.iconst(0);
        self.b.def_var(result, zero);
        let negative = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, v, 0);
        let non_negative = self.b.create_block();
        let large = self.b.create_block();
        let done = self.b.create_block();
        self.b.ins().brif(negative, done, &[], non_negative, &[]);
        self.b.switch_to_block(non_negative);
        let small = self.b.ins().iadd_imm_s(v, 1);
        self.b.def_var(result, small);
        let is_large = self.b.ins().icmp_imm_s(IntCC::SignedGreaterThan, v, mask);
        self.b.ins().brif(is_large, large, &[], done, &[]);
        self.b.switch_to_block(large);
        // l = floor(log2 v) by binary search without branches, so the verifier walks one path
        // (branches would give it 2^6 of them): for 0 < x < 2^63, ((2^s - 1) - x) >> 63 is 1
        // exactly when x >= 2^s.
        let mut x = v;
        let mut l = self.iconst(0);
        for step in [32i64, 16, 8, 4, 2, 1] {
            let limit = self.iconst((1i64 << step) - 1);
            let diff = self.b.ins().isub(limit, x);
            let big = self.b.ins().ushr_imm_u(diff, 63);
            let amount = self
                .b
                .ins()
                .ishl_imm_u(big, i64::from(step.trailing_zeros()));
            x = self.b.ins().ushr(x, amount);
            l = self.b.ins().iadd(l, amount);
        }
        let shift = self.b.ins().iadd_imm_s(l, -(bits as i64));
        let below = self.b.ins().ushr(v, shift);
        let below = self.b.ins().band_imm_s(below, mask);
        let group = self.b.ins().iadd_imm_s(shift, 1);
        let group = self.b.ins().ishl_imm_s(group, bits as i64);
        let idx = self.b.ins().iadd(group, below);
        let idx = self.b.ins().iadd_imm_s(idx, 1);
        self.b.def_var(result, idx);
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
        self.b.use_var(result)
    }

    /// 0 below `min`, 1 + (v - min) / step inside, the last bucket at or above `max`.
    fn lhist_bucket(&mut self, v: ir::Value, min: i64, max: i64, step: i64) -> ir::Value {
        let last = maps::lhist_buckets(min, max, step) as i64 - 1;
        let result = self.b.declare_var(types::I64);
        let zero = self.iconst(0);
        self.b.def_var(result, zero);
        let below = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, v, min);
        let not_below = self.b.create_block();
        let inside = self.b.create_block();
        let done = self.b.create_block();
        self.b.ins().brif(below, done, &[], not_below, &[]);
        self.b.switch_to_block(not_below);
        let top = self.iconst(last);
        self.b.def_var(result, top);
        let above = self
            .b
            .ins()
            .icmp_imm_s(IntCC::SignedGreaterThanOrEqual, v, max);
        self.b.ins().brif(above, done, &[], inside, &[]);
        self.b.switch_to_block(inside);
        let off = self.b.ins().iadd_imm_s(v, min.wrapping_neg());
        let step_v = self.iconst(step);
        let q = self.b.ins().udiv(off, step_v);
        let idx = self.b.ins().iadd_imm_s(q, 1);
        self.b.def_var(result, idx);
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
        self.b.use_var(result)
    }

    /// Reads a plain map's value; 0 (or an empty string) when the key is absent.
    fn map_read(&mut self, name: &str, keys: &[Expr], ty: &Type) -> Val {
        let index = self.map_index(name);
        if let MapValue::Agg { kind, signed, .. } = self.input.tables.maps[index as usize].value {
            return Val::Int(self.agg_read(index, keys, kind, signed));
        }
        let (key, _) = self.map_key(index, keys, None);
        let p = self.lookup(index, key);
        let found = self.b.create_block();
        let done = self.b.create_block();
        if ty.is_int() {
            let out = self.b.declare_var(types::I64);
            let zero = self.iconst(0);
            self.b.def_var(out, zero);
            self.b.ins().brif(p, found, &[], done, &[]);
            self.b.switch_to_block(found);
            let v = self.b.ins().load(types::I64, flags(), p, 0);
            self.b.def_var(out, v);
            self.b.ins().jump(done, &[]);
            self.b.switch_to_block(done);
            Val::Int(self.b.use_var(out))
        } else {
            let size = ty.size();
            let slot = self.buffer(size);
            self.b.ins().brif(p, found, &[], done, &[]);
            self.b.switch_to_block(found);
            for off in (0..size).step_by(8) {
                let v = self.b.ins().load(types::I64, flags(), p, off as i32);
                self.mem_store(v, slot, off as i32);
            }
            self.b.ins().jump(done, &[]);
            self.b.switch_to_block(done);
            Val::Mem(slot)
        }
    }

    /// An aggregation's value merged over every CPU's slot, as user space merges them:
    /// bpf_map_lookup_percpu_elem for each possible CPU (a constant bound, which the verifier
    /// needs; the loop also stops at the first CPU the kernel does not have).
    fn agg_read(&mut self, index: u32, keys: &[Expr], kind: AggKind, signed: bool) -> ir::Value {
        let (key, _) = self.map_key(index, keys, None);
        let first = self.b.declare_var(types::I64);
        let second = self.b.declare_var(types::I64);
        let cpu = self.b.declare_var(types::I64);
        let zero = self.iconst(0);
        for v in [first, second, cpu] {
            self.b.def_var(v, zero);
        }
        let header = self.b.create_block();
        let body = self.b.create_block();
        let next = self.b.create_block();
        let done = self.b.create_block();
        self.b.ins().jump(header, &[]);

        self.b.switch_to_block(header);
        let i = self.b.use_var(cpu);
        let more = self.b.ins().icmp_imm_s(
            IntCC::UnsignedLessThan,
            i,
            i64::from(self.input.options.cpus),
        );
        self.b.ins().brif(more, body, &[], done, &[]);

        self.b.switch_to_block(body);
        let map = self.map_ptr(index);
        let k = self.addr(key, 0);
        let p = self.helper(helper::MAP_LOOKUP_PERCPU_ELEM, &[map, k, i]);
        let found = self.b.create_block();
        self.b.ins().brif(p, found, &[], done, &[]);

        self.b.switch_to_block(found);
        let w0 = self.b.ins().load(types::I64, flags(), p, 0);
        match kind {
            AggKind::Count | AggKind::Sum => {
                let acc = self.b.use_var(first);
                let acc = self.b.ins().iadd(acc, w0);
                self.b.def_var(first, acc);
                self.b.ins().jump(next, &[]);
            }
            AggKind::Avg => {
                // [count, total]
                let w1 = self.b.ins().load(types::I64, flags(), p, 8);
                let total = self.b.use_var(first);
                let total = self.b.ins().iadd(total, w1);
                self.b.def_var(first, total);
                let count = self.b.use_var(second);
                let count = self.b.ins().iadd(count, w0);
                self.b.def_var(second, count);
                self.b.ins().jump(next, &[]);
            }
            AggKind::Min | AggKind::Max => {
                // [value, is set]; `second` says whether `first` holds one yet.
                let set = self.b.ins().load(types::I64, flags(), p, 8);
                let consider = self.b.create_block();
                let take = self.b.create_block();
                self.b.ins().brif(set, consider, &[], next, &[]);
                self.b.switch_to_block(consider);
                let best = self.b.use_var(first);
                let have = self.b.use_var(second);
                let op = if kind == AggKind::Min {
                    BinOp::Lt
                } else {
                    BinOp::Gt
                };
                let better = self.b.ins().icmp(compare_cc(op, signed), w0, best);
                let none_yet = self.b.ins().icmp_imm_s(IntCC::Equal, have, 0);
                let wins = self.b.ins().bor(better, none_yet);
                self.b.ins().brif(wins, take, &[], next, &[]);
                self.b.switch_to_block(take);
                self.b.def_var(first, w0);
                let one = self.iconst(1);
                self.b.def_var(second, one);
                self.b.ins().jump(next, &[]);
            }
            AggKind::Stats | AggKind::Hist | AggKind::Lhist | AggKind::Tseries => {
                panic!("bug: {kind:?} read in a probe passed the checker")
            }
        }

        self.b.switch_to_block(next);
        let i = self.b.use_var(cpu);
        let i = self.b.ins().iadd_imm_s(i, 1);
        self.b.def_var(cpu, i);
        self.b.ins().jump(header, &[]);

        self.b.switch_to_block(done);
        let first = self.b.use_var(first);
        if kind != AggKind::Avg {
            return first;
        }
        let count = self.b.use_var(second);
        if signed {
            self.signed_divide(BinOp::Div, first, count)
        } else {
            self.b.ins().udiv(first, count)
        }
    }

    fn int(&mut self, e: &Expr) -> ir::Value {
        match self.expr(e) {
            Val::Int(v) => v,
            _ => panic!("bug: expected an integer at {:?}", e.span),
        }
    }

    fn bool_value(&mut self, cc: IntCC, a: ir::Value, b: ir::Value) -> ir::Value {
        let c = self.b.ins().icmp(cc, a, b);
        self.b.ins().uextend(types::I64, c)
    }

    fn expr(&mut self, e: &Expr) -> Val {
        if let Some(v) = self.input.types.constant(e) {
            return Val::Int(self.iconst(v));
        }
        match &e.kind {
            ExprKind::Int(v) => Val::Int(self.iconst(*v as i64)),
            ExprKind::Bool(v) => Val::Int(self.iconst(*v as i64)),
            ExprKind::Str(bytes) => self.str_const(bytes),
            ExprKind::PositionalCount => {
                Val::Int(self.iconst(self.input.options.positional.len() as i64))
            }
            ExprKind::Positional(n) => match self.input.options.positional_value(*n) {
                Positional::Int(v) => Val::Int(self.iconst(v)),
                Positional::Str(text) => self.str_const(text.as_bytes()),
            },
            ExprKind::Ident(name) => {
                if let Some(v) = self.input.catalogue.variable(name) {
                    if v.ty == Type::Args && matches!(self.ty(e), Type::Record(_)) {
                        return self.args_value(e);
                    }
                    (v.lower)(self)
                } else {
                    // A call without parentheses.
                    self.call(e, name, &[])
                }
            }
            ExprKind::Var(name) => match self.vars.get(name) {
                Some(VarStore::Reg(v)) => {
                    let v = *v;
                    Val::Int(self.b.use_var(v))
                }
                // An integer whose address is taken (`&$x`) lives in memory.
                Some(VarStore::Mem(slot)) if self.ty(e).is_int() => {
                    let slot = *slot;
                    Val::Int(self.mem_load(slot, 0))
                }
                Some(VarStore::Mem(slot)) => Val::Mem(*slot),
                Some(VarStore::Cell(cell)) => {
                    let cell = *cell;
                    Val::Int(self.mem_load(cell, 0))
                }
                None => Val::Int(self.iconst(0)),
            },
            ExprKind::Map { name, keys } => {
                let ty = self.ty(e).clone();
                self.map_read(name, keys, &ty)
            }
            ExprKind::Call { name, args, .. }
                if args.is_empty() && self.input.catalogue.function(name).is_none() =>
            {
                // `pid()`: a builtin variable called like a function.
                let v = self
                    .input
                    .catalogue
                    .variable(name)
                    .unwrap_or_else(|| panic!("bug: unknown call {name}"));
                (v.lower)(self)
            }
            ExprKind::Call { name, args, .. } => self.call(e, name, args),
            ExprKind::Unary {
                op: UnOp::Deref, ..
            } => {
                let place = self.place(e);
                let ty = self.ty(e).clone();
                self.read_place(place, &ty, None)
            }
            ExprKind::Unary {
                op: UnOp::AddrOf,
                expr,
            } => {
                let ExprKind::Var(name) = &expr.kind else {
                    panic!("bug: address of something other than a variable")
                };
                let slot = match self.vars.get(name) {
                    Some(VarStore::Mem(slot)) | Some(VarStore::Cell(slot)) => *slot,
                    Some(VarStore::Reg(_)) => panic!("bug: ${name} is addressed but in a register"),
                    None => {
                        let slot = self.lasting_buffer(self.ty(expr).size());
                        self.vars.insert(name.clone(), VarStore::Mem(slot));
                        slot
                    }
                };
                Val::Int(self.addr(slot, 0))
            }
            ExprKind::Unary { op, expr } => {
                let v = self.int(expr);
                Val::Int(match op {
                    UnOp::Neg => self.b.ins().ineg(v),
                    UnOp::BitNot => self.b.ins().bnot(v),
                    UnOp::Not => {
                        let zero = self.iconst(0);
                        self.bool_value(IntCC::Equal, v, zero)
                    }
                    UnOp::Deref | UnOp::AddrOf => panic!("bug: {op:?} is not an integer operator"),
                })
            }
            ExprKind::Binary {
                op: op @ (BinOp::And | BinOp::Or),
                lhs,
                rhs,
            } => {
                let out = self.b.declare_var(types::I64);
                let l = self.int(lhs);
                let zero = self.iconst(0);
                let l = self.bool_value(IntCC::NotEqual, l, zero);
                self.b.def_var(out, l);
                let eval_rhs = self.b.create_block();
                let done = self.b.create_block();
                if *op == BinOp::And {
                    self.b.ins().brif(l, eval_rhs, &[], done, &[]);
                } else {
                    self.b.ins().brif(l, done, &[], eval_rhs, &[]);
                }
                self.b.switch_to_block(eval_rhs);
                let r = self.int(rhs);
                let zero = self.iconst(0);
                let r = self.bool_value(IntCC::NotEqual, r, zero);
                self.b.def_var(out, r);
                self.b.ins().jump(done, &[]);
                self.b.switch_to_block(done);
                Val::Int(self.b.use_var(out))
            }
            ExprKind::Binary { op, lhs, rhs } => {
                if matches!(
                    (self.ty(lhs), self.ty(rhs)),
                    (Type::Str { .. }, Type::Str { .. }) | (Type::Buf { .. }, Type::Buf { .. })
                ) {
                    let eq = self.str_eq(lhs, rhs);
                    return Val::Int(if *op == BinOp::Eq {
                        eq
                    } else {
                        self.b.ins().bxor_imm_s(eq, 1)
                    });
                }
                // Comparisons and division follow the operands' common signedness, as sema
                // fixed it in the result type; shifts follow the left operand.
                let signed = match op {
                    BinOp::Shr => self.ty(lhs).is_signed(),
                    BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                        self.common_signed(lhs, rhs)
                    }
                    _ => self.ty(e).is_signed(),
                };
                let mut a = self.int(lhs);
                let mut b = self.int(rhs);
                // Pointer arithmetic moves by the pointee's size.
                if matches!(op, BinOp::Add | BinOp::Sub) {
                    match (self.ty(lhs), self.ty(rhs)) {
                        // As in C, the difference of two pointers counts elements.
                        (p @ Type::Ptr(_), Type::Ptr(_)) if *op == BinOp::Sub => {
                            let stride = self.input.tables.ctypes.stride(p);
                            let bytes = self.b.ins().isub(a, b);
                            let n = self.iconst(stride);
                            return Val::Int(self.signed_divide(BinOp::Div, bytes, n));
                        }
                        (Type::Ptr(_), Type::Ptr(_)) => {}
                        (p @ Type::Ptr(_), _) => b = self.scale(b, p),
                        (_, p @ Type::Ptr(_)) => a = self.scale(a, p),
                        _ => {}
                    }
                }
                Val::Int(self.binary_int(*op, a, b, signed))
            }
            ExprKind::Ternary { cond, then, els } => {
                let ty = self.ty(e).clone();
                let c = self.int(cond);
                // The result's home exists before the branch, so both arms can fill it.
                let slot = (!ty.is_int()).then(|| self.buffer(ty.size()));
                let out = self.b.declare_var(types::I64);
                let then_block = self.b.create_block();
                let else_block = self.b.create_block();
                let join = self.b.create_block();
                self.b.ins().brif(c, then_block, &[], else_block, &[]);
                for (block, arm) in [(then_block, then), (else_block, els)] {
                    self.b.switch_to_block(block);
                    let v = self.expr(arm);
                    match (slot, v) {
                        (None, Val::Int(v)) => self.b.def_var(out, v),
                        (Some(slot), v) => self.store_val(slot, 0, &v, &ty),
                        (None, _) => panic!("bug: ternary arm is not an integer"),
                    }
                    self.b.ins().jump(join, &[]);
                }
                self.b.switch_to_block(join);
                match slot {
                    Some(slot) => Val::Mem(slot),
                    None => Val::Int(self.b.use_var(out)),
                }
            }
            ExprKind::Cast { expr, .. } if !self.ty(expr).is_int() || !self.ty(e).is_int() => {
                let v = self.expr(expr);
                match (v, self.ty(e)) {
                    // An array's bytes as one integer.
                    (Val::Mem(m), Type::Int { bits, signed }) => {
                        let (bits, signed) = (*bits, *signed);
                        let p = self.addr(m, 0);
                        Val::Int(self.load_int(p, 0, bits, signed))
                    }
                    // Bytes as an array: a string's or an array's as they are.
                    (Val::Mem(m), _) => Val::Mem(m),
                    // An integer's 8 bytes.
                    (Val::Int(x), _) => {
                        let buf = self.buffer(8);
                        self.mem_store(x, buf, 0);
                        Val::Mem(buf)
                    }
                    (Val::None, _) => panic!("bug: cast of nothing"),
                }
            }
            ExprKind::Cast { expr, .. } => {
                let v = self.int(expr);
                Val::Int(match self.ty(e) {
                    Type::Int { bits, signed } => self.cast(v, *bits, *signed),
                    Type::Bool => {
                        let zero = self.iconst(0);
                        self.bool_value(IntCC::NotEqual, v, zero)
                    }
                    _ => v,
                })
            }
            ExprKind::Field { expr, field, .. } if *self.ty(expr) == Type::Args => {
                self.tracepoint_field(field)
            }
            ExprKind::Field { expr, field, .. } if matches!(self.ty(expr), Type::Tuple(_)) => {
                self.tuple_field(expr, field)
            }
            ExprKind::Field { .. } | ExprKind::Index { .. } => {
                let place = self.place(e);
                let ty = self.ty(e).clone();
                let bitfield = self.bitfield_of(e);
                self.read_place(place, &ty, bitfield)
            }
            ExprKind::SizeofType(_) | ExprKind::SizeofExpr(_) | ExprKind::Offsetof { .. } => {
                panic!("bug: sizeof or offsetof without a value")
            }
            ExprKind::Tuple(items) => {
                let ty = self.ty(e).clone();
                let Type::Tuple(fields) = &ty else {
                    panic!("bug: tuple type")
                };
                let slot = self.buffer(ty.size());
                let offsets = Type::field_offsets(fields);
                for ((item, field), off) in items.iter().zip(fields).zip(offsets) {
                    let v = self.expr(item);
                    self.store_val(slot, off, &v, field);
                }
                Val::Mem(slot)
            }
            ExprKind::Block { stmts, value, .. } => {
                self.block_stmts(stmts);
                match value {
                    Some(value) => self.expr(value),
                    None => Val::None,
                }
            }
            ExprKind::IncDec {
                target,
                increment,
                prefix,
            } => {
                let old = self.read_target(target);
                let step = self.input.tables.ctypes.stride(self.ty(target));
                let new = self
                    .b
                    .ins()
                    .iadd_imm_s(old, if *increment { step } else { -step });
                self.write_target(target, &Val::Int(new), &Type::I64);
                Val::Int(if *prefix { new } else { old })
            }
        }
    }

    /// Whether two operands compare as signed: C's rule, a literal taking the other's sign.
    fn common_signed(&self, lhs: &Expr, rhs: &Expr) -> bool {
        let literal = |e: &Expr| {
            matches!(
                e.kind,
                ExprKind::Int(_) | ExprKind::Unary { op: UnOp::Neg, .. }
            )
        };
        match (literal(lhs), literal(rhs)) {
            (true, false) => self.ty(rhs).is_signed(),
            (false, true) => self.ty(lhs).is_signed(),
            _ => self.ty(lhs).is_signed() && self.ty(rhs).is_signed(),
        }
    }

    fn cast(&mut self, v: ir::Value, bits: u8, signed: bool) -> ir::Value {
        if bits >= 64 {
            return v;
        }
        if signed {
            let s = self.b.ins().ishl_imm_s(v, 64 - bits as i64);
            self.b.ins().sshr_imm_s(s, 64 - bits as i64)
        } else {
            self.b.ins().band_imm_s(v, ((1u64 << bits) - 1) as i64)
        }
    }

    fn binary_int(&mut self, op: BinOp, a: ir::Value, b: ir::Value, signed: bool) -> ir::Value {
        let ins = self.b.ins();
        match op {
            BinOp::Add => ins.iadd(a, b),
            BinOp::Sub => ins.isub(a, b),
            BinOp::Mul => ins.imul(a, b),
            BinOp::BitAnd => ins.band(a, b),
            BinOp::BitOr => ins.bor(a, b),
            BinOp::BitXor => ins.bxor(a, b),
            BinOp::Shl => ins.ishl(a, b),
            BinOp::Shr if signed => ins.sshr(a, b),
            BinOp::Shr => ins.ushr(a, b),
            BinOp::Div | BinOp::Mod if !signed => {
                if op == BinOp::Div {
                    ins.udiv(a, b)
                } else {
                    ins.urem(a, b)
                }
            }
            BinOp::Div | BinOp::Mod => self.signed_divide(op, a, b),
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                self.bool_value(compare_cc(op, signed), a, b)
            }
            BinOp::And | BinOp::Or => panic!("bug: short-circuit operator in binary_int"),
        }
    }

    /// C's signed division and modulo from BPF's unsigned ones (ISA v3 has no sdiv): divide
    /// the magnitudes, then give the quotient the sign of a ^ b and the remainder the sign of a.
    /// A zero divisor follows BPF's rule: x / 0 = 0, x % 0 = x.
    fn signed_divide(&mut self, op: BinOp, a: ir::Value, b: ir::Value) -> ir::Value {
        let abs = |lx: &mut Self, x: ir::Value| {
            let sign = lx.b.ins().sshr_imm_s(x, 63);
            let flipped = lx.b.ins().bxor(x, sign);
            lx.b.ins().isub(flipped, sign)
        };
        let ua = abs(self, a);
        let ub = abs(self, b);
        let (r, sign) = if op == BinOp::Div {
            let q = self.b.ins().udiv(ua, ub);
            let s = self.b.ins().bxor(a, b);
            (q, self.b.ins().sshr_imm_s(s, 63))
        } else {
            let r = self.b.ins().urem(ua, ub);
            (r, self.b.ins().sshr_imm_s(a, 63))
        };
        let flipped = self.b.ins().bxor(r, sign);
        self.b.ins().isub(flipped, sign)
    }

    /// Compares two strings word by word; both buffers are zero-padded.
    fn str_eq(&mut self, lhs: &Expr, rhs: &Expr) -> ir::Value {
        let (Val::Mem(a), Val::Mem(b)) = (self.expr(lhs), self.expr(rhs)) else {
            panic!("bug: string operands in registers")
        };
        let size = self.ty(lhs).size().max(self.ty(rhs).size());
        let a_size = a.size as usize;
        let b_size = b.size as usize;
        let mut diff = self.iconst(0);
        for off in (0..size).step_by(8) {
            let x = if off < a_size {
                self.mem_load(a, off as i32)
            } else {
                self.iconst(0)
            };
            let y = if off < b_size {
                self.mem_load(b, off as i32)
            } else {
                self.iconst(0)
            };
            let d = self.b.ins().bxor(x, y);
            diff = self.b.ins().bor(diff, d);
        }
        let zero = self.iconst(0);
        self.bool_value(IntCC::Equal, diff, zero)
    }

    // ----- C values: fields, elements and pointees, read where they are -----

    /// `v` steps of the pointer type `ptr`, in bytes.
    fn scale(&mut self, v: ir::Value, ptr: &Type) -> ir::Value {
        match self.input.tables.ctypes.stride(ptr) {
            1 => v,
            n => self.b.ins().imul_imm_s(v, n),
        }
    }

    /// The record of the kernel's BTF a pointer type points to (a record the script defines
    /// may lay out differently from what the verifier knows).
    fn pointee_record(&self, ty: &Type) -> Option<Arc<Record>> {
        let ctypes = &self.input.tables.ctypes;
        match ty {
            Type::Ptr(p) => match &**p {
                Type::Named(n) if ctypes.is_kernel_type(n) => match ctypes.known(n) {
                    Some(Type::Record(r)) => Some(r.clone()),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        }
    }

    /// Where `ptr`, an expression of pointer type, points: behind a BTF-typed pointer when
    /// the verifier types it so, else at an address to probe-read.
    fn pointee_place(&mut self, ptr: &Expr) -> Place {
        let p = self.pointer_value(ptr);
        match self.pointee_record(self.ty(ptr)) {
            Some(record) if self.btf_pointers.contains(&p) => Place::Btf {
                ptr: p,
                record,
                offset: 0,
            },
            _ => Place::Addr(p),
        }
    }

    /// The value of `e`, a pointer about to be dereferenced. A pointer to a record behind a
    /// BTF-typed pointer is loaded directly when the verifier types the load as that pointer,
    /// so that it is BTF-typed in turn; elsewhere a directly loaded pointer would be a
    /// PTR_TO_BTF_ID the verifier refuses arithmetic on, so `expr` keeps reading it as a number.
    fn pointer_value(&mut self, e: &Expr) -> ir::Value {
        let generic = match &e.kind {
            ExprKind::Field { expr, .. } => !matches!(self.ty(expr), Type::Args | Type::Tuple(_)),
            ExprKind::Index { .. }
            | ExprKind::Unary {
                op: UnOp::Deref, ..
            } => true,
            _ => false,
        };
        let builtin = match &e.kind {
            ExprKind::Ident(_) => true,
            ExprKind::Call { args, .. } => args.is_empty(),
            _ => false,
        };
        if builtin && self.pointee_record(self.ty(e)).is_some() {
            self.dereferenced = true;
            let v = self.int(e);
            self.dereferenced = false;
            return v;
        }
        if !generic {
            return self.int(e);
        }
        let place = self.place(e);
        let ty = self.ty(e).clone();
        let bitfield = self.bitfield_of(e);
        if let Place::Btf {
            ptr,
            record,
            offset,
        } = &place
            && let Some(pointee) = self.pointee_record(&ty)
            && bitfield.is_none()
            && verifier_view(record, *offset, 8) == Some(BtfView::Ptr(pointee.name.clone()))
            && let Ok(off) = i32::try_from(*offset)
        {
            let v = self.btf_load(*ptr, off, 64, false);
            self.btf_pointers.insert(v);
            self.loaded_pointers.insert(v);
            return v;
        }
        match self.read_place(place, &ty, bitfield) {
            Val::Int(v) => v,
            _ => panic!("bug: a pointer in memory at {:?}", e.span),
        }
    }

    /// A plain load through a BTF-typed pointer. Through a pointer itself loaded from a record
    /// it is guarded by a NULL check (0 when NULL, as a probe read gives): newer verifiers type
    /// some such pointers as maybe NULL (`__rcu` fields behind `curtask`) and refuse the load
    /// until the program checks.
    fn btf_load(&mut self, ptr: ir::Value, offset: i32, bits: u8, signed: bool) -> ir::Value {
        if !self.loaded_pointers.contains(&ptr) {
            return self.load_int(ptr, offset, bits, signed);
        }
        let load = self.b.create_block();
        let join = self.b.create_block();
        self.b.append_block_param(join, types::I64);
        let zero = self.iconst(0);
        self.b.ins().brif(ptr, load, &[], join, &[zero.into()]);
        self.b.switch_to_block(load);
        let v = self.load_int(ptr, offset, bits, signed);
        self.b.ins().jump(join, &[v.into()]);
        self.b.switch_to_block(join);
        self.b.block_params(join)[0]
    }

    /// Where the value of `e` (a field, element, pointee, or any expression of a C type) is.
    fn place(&mut self, e: &Expr) -> Place {
        match &e.kind {
            ExprKind::Unary {
                op: UnOp::Deref,
                expr,
            } => self.pointee_place(expr),
            ExprKind::Field { expr, field, .. } => {
                let base = match self.ty(expr) {
                    Type::Ptr(_) => self.pointee_place(expr),
                    _ => self.place(expr),
                };
                let offset = self.field_def(expr, field).offset;
                self.offset_place(base, offset as i64)
            }
            ExprKind::Index { expr, index } => {
                let elem = self.ty(e).c_size() as i64;
                let base = match self.ty(expr) {
                    // Elements other than the first are outside the record the verifier
                    // knows the pointer by.
                    Type::Ptr(_) => match self.input.types.constant(index) {
                        Some(0) => self.pointee_place(expr),
                        _ => Place::Addr(self.pointer_value(expr)),
                    },
                    _ => self.place(expr),
                };
                match (self.input.types.constant(index), &index.kind) {
                    (Some(i), _) => self.offset_place(base, i * elem),
                    (None, ExprKind::Int(i)) => self.offset_place(base, *i as i64 * elem),
                    _ => {
                        let i = self.int(index);
                        let bytes = self.b.ins().imul_imm_s(i, elem);
                        let start = match base {
                            Place::Addr(p) => p,
                            Place::Btf { ptr, offset, .. } => {
                                self.b.ins().iadd_imm_s(ptr, offset as i64)
                            }
                            Place::Buf(m, off) => self.addr(m, off as i32),
                        };
                        // A buffer read at a run-time offset goes through the probe-read helper
                        // too: it checks the address, the verifier need not.
                        Place::Addr(self.b.ins().iadd(start, bytes))
                    }
                }
            }
            _ => match self.expr(e) {
                Val::Mem(m) => Place::Buf(m, 0),
                _ => panic!("bug: a C value in a register at {:?}", e.span),
            },
        }
    }

    fn offset_place(&mut self, place: Place, by: i64) -> Place {
        match place {
            Place::Addr(p) => Place::Addr(self.b.ins().iadd_imm_s(p, by)),
            Place::Btf {
                ptr,
                record,
                offset,
            } => match usize::try_from(offset as i64 + by) {
                Ok(offset) => Place::Btf {
                    ptr,
                    record,
                    offset,
                },
                Err(_) => Place::Addr(self.b.ins().iadd_imm_s(ptr, offset as i64 + by)),
            },
            Place::Buf(m, off) => Place::Buf(m, (i64::from(off) + by) as u32),
        }
    }

    /// The definition of field `name` of `record_expr`'s record (or the record it points to).
    fn field_def(&self, record_expr: &Expr, name: &str) -> crate::types::Field {
        let record = match self.ty(record_expr) {
            Type::Record(r) => r.clone(),
            Type::Ptr(p) => match &**p {
                Type::Named(n) => match self.input.tables.ctypes.known(n) {
                    Some(Type::Record(r)) => r.clone(),
                    _ => panic!("bug: {n} was not looked up"),
                },
                t => panic!("bug: field of a pointer to {t}"),
            },
            t => panic!("bug: field of {t}"),
        };
        record
            .field(name)
            .unwrap_or_else(|| panic!("bug: unchecked field {name}"))
            .clone()
    }

    fn bitfield_of(&self, e: &Expr) -> Option<crate::types::Bitfield> {
        match &e.kind {
            ExprKind::Field { expr, field, .. } => self.field_def(expr, field).bitfield,
            _ => None,
        }
    }

    /// The probe-read helper for this probe's memory: user memory in uprobes, kernel memory
    /// elsewhere, as bpftrace picks it by probe type.
    fn probe_read_helper(&self) -> u32 {
        match self.input.attach.class() {
            ProbeClass::Uprobe | ProbeClass::Uretprobe => helper::PROBE_READ_USER,
            _ => helper::PROBE_READ_KERNEL,
        }
    }

    /// Reads a value of type `ty` from `place`: integers (and bitfields) into a register,
    /// records, arrays and strings into a fresh zero-padded buffer.
    fn read_place(
        &mut self,
        place: Place,
        ty: &Type,
        bitfield: Option<crate::types::Bitfield>,
    ) -> Val {
        let size = ty.c_size();
        let (bits, signed) = match ty {
            Type::Int { bits, signed } => (u32::from(*bits), *signed),
            t if t.is_int() => ((t.c_size() * 8) as u32, t.is_signed()),
            _ => (0, false),
        };
        match place {
            Place::Btf {
                ptr,
                record,
                offset,
            } => {
                // A plain load where the verifier sees a number there too; a pointer to a
                // record read as a value stays a number (see `pointer_value`).
                let direct = bits > 0
                    && bitfield.is_none()
                    && matches!(size, 1 | 2 | 4 | 8)
                    && self.pointee_record(ty).is_none()
                    && verifier_view(&record, offset, size) == Some(BtfView::Scalar);
                let copy = match bits == 0 && bitfield.is_none() && i32::try_from(offset).is_ok() {
                    true => btf_copy(&record, offset, size),
                    false => None,
                };
                match (i32::try_from(offset), copy) {
                    (Ok(off), _) if direct => Val::Int(self.btf_load(ptr, off, bits as u8, signed)),
                    // Bytes (a string, an array, a record by value) in loads of numbers.
                    (_, Some(chunks)) => {
                        // Zeroed only where the copy leaves padding up to 8 bytes.
                        let buf = match size % 8 {
                            0 => self.buffer_uninit(size),
                            _ => self.buffer(size),
                        };
                        for (at, width) in chunks {
                            let off = (offset + at) as i32;
                            let v = self.btf_load(ptr, off, (width * 8) as u8, false);
                            let narrow = match width {
                                8 => v,
                                4 => self.b.ins().ireduce(types::I32, v),
                                2 => self.b.ins().ireduce(types::I16, v),
                                _ => self.b.ins().ireduce(types::I8, v),
                            };
                            let to = self.addr(buf, at as i32);
                            self.b.ins().store(flags(), narrow, to, 0);
                        }
                        Val::Mem(buf)
                    }
                    _ => {
                        let p = self.b.ins().iadd_imm_s(ptr, offset as i64);
                        self.read_place(Place::Addr(p), ty, bitfield)
                    }
                }
            }
            Place::Addr(p) => {
                let read = match bitfield {
                    Some(bf) => (bf.shift + bf.bits).div_ceil(8) as usize,
                    None => size,
                };
                let buf = self.buffer(read.max(1));
                if read > 0 {
                    let dst = self.addr(buf, 0);
                    let len = self.iconst(read as i64);
                    let id = self.probe_read_helper();
                    self.helper(id, &[dst, len, p]);
                }
                if bits == 0 {
                    return Val::Mem(buf);
                }
                self.read_place(Place::Buf(buf, 0), ty, bitfield)
            }
            Place::Buf(m, off) if bits > 0 => {
                let p = self.addr(m, off as i32);
                let v = match bitfield {
                    Some(bf) => {
                        let width = match (bf.shift + bf.bits).div_ceil(8) {
                            0..=1 => 8,
                            2 => 16,
                            3..=4 => 32,
                            _ => 64,
                        };
                        let raw = self.load_int(p, 0, width, false);
                        let v = self.b.ins().ushr_imm_s(raw, i64::from(bf.shift));
                        self.cast(v, bf.bits as u8, signed)
                    }
                    None => self.load_int(p, 0, bits as u8, signed),
                };
                Val::Int(v)
            }
            Place::Buf(m, 0) if m.size as usize == ty.size() => Val::Mem(m),
            Place::Buf(m, off) => {
                let buf = self.buffer(size);
                self.copy_bytes(buf, m, off as usize, size);
                Val::Mem(buf)
            }
        }
    }

    /// Copies `n` bytes from `src + src_off` to the start of `dst`, in the widest accesses the
    /// alignment of both allows.
    fn copy_bytes(&mut self, dst: Mem, src: Mem, src_off: usize, n: usize) {
        let mut i = 0;
        while i < n {
            let w = [8usize, 4, 2, 1]
                .into_iter()
                .find(|w| i + w <= n && (src_off + i) % w == 0 && i % w == 0)
                .unwrap_or(1);
            let from = self.addr(src, (src_off + i) as i32);
            let v = self.load_int(from, 0, (w * 8) as u8, false);
            let to = self.addr(dst, i as i32);
            let narrow = match w {
                8 => v,
                4 => self.b.ins().ireduce(types::I32, v),
                2 => self.b.ins().ireduce(types::I16, v),
                _ => self.b.ins().ireduce(types::I8, v),
            };
            self.b.ins().store(flags(), narrow, to, 0);
            i += w;
        }
    }

    /// `args` as a whole: every field of its record (sema's `args_record`) read as `args.NAME`.
    fn args_value(&mut self, e: &Expr) -> Val {
        let Type::Record(record) = self.ty(e).clone() else {
            panic!("bug: args as a value without its record")
        };
        let buf = self.buffer(record.size);
        for f in &record.fields {
            let v = self.tracepoint_field(&f.name);
            self.store_val(buf, f.offset, &v, &f.ty);
        }
        Val::Mem(buf)
    }

    fn tracepoint_field(&mut self, name: &str) -> Val {
        let field = self
            .input
            .args_fields
            .and_then(|fs| fs.iter().find(|f| f.name == name))
            .unwrap_or_else(|| panic!("bug: unchecked field {name} of args"))
            .clone();
        match field.kind {
            FieldKind::Int => Val::Int(self.load_ctx(
                field.offset as i32,
                (field.size * 8).min(64) as u8,
                field.signed,
            )),
            FieldKind::StrPtr | FieldKind::Other => {
                let bits = (field.size * 8).min(64) as u8;
                let bits = if matches!(bits, 8 | 16 | 32 | 64) {
                    bits
                } else {
                    64
                };
                let v = self.load_ctx(field.offset as i32, bits, false);
                // fentry/fexit: the verifier types each slot by the function's BTF.
                Val::Int(match (&field.ty, self.input.function) {
                    (Some(ty), Some(_)) => self.btf_pointer(v, ty),
                    _ => v,
                })
            }
            FieldKind::CharArray => {
                let slot = self.buffer(field.size as usize);
                let dst = self.addr(slot, 0);
                let len = self.iconst(field.size as i64);
                let src = self.b.ins().iadd_imm_s(self.ctx, field.offset as i64);
                self.helper(helper::PROBE_READ_KERNEL, &[dst, len, src]);
                Val::Mem(slot)
            }
            FieldKind::DataLocStr => {
                let loc = self.load_ctx(field.offset as i32, 32, false);
                let off = self.b.ins().band_imm_s(loc, 0xffff);
                let src = self.b.ins().iadd(self.ctx, off);
                let size = self.input.options.max_strlen;
                let slot = self.buffer(size);
                let dst = self.addr(slot, 0);
                let len = self.iconst(size as i64);
                self.helper(helper::PROBE_READ_KERNEL_STR, &[dst, len, src]);
                Val::Mem(slot)
            }
        }
    }

    fn call(&mut self, e: &Expr, name: &str, args: &[Expr]) -> Val {
        let f = self
            .input
            .catalogue
            .function(name)
            .unwrap_or_else(|| panic!("bug: unknown function {name}"));
        match f.kind {
            FunctionKind::Aggregation(_) => panic!("bug: aggregation outside an assignment"),
            FunctionKind::Debugf => {
                let ExprKind::Str(fmt) = &args[0].kind else {
                    panic!("bug: unchecked debugf format")
                };
                let Val::Mem(format) = self.str_const(fmt) else {
                    panic!("bug: string constant in a register")
                };
                let mut call_args = vec![self.addr(format, 0), self.iconst(fmt.len() as i64 + 1)];
                for a in &args[1..] {
                    let v = match self.expr(a) {
                        Val::Int(v) => v,
                        Val::Mem(m) => self.addr(m, 0),
                        Val::None => panic!("bug: debugf of nothing"),
                    };
                    call_args.push(v);
                }
                // One signature for every call of the helper: unused arguments are zero.
                while call_args.len() < 5 {
                    call_args.push(self.iconst(0));
                }
                self.helper(helper::TRACE_PRINTK, &call_args);
                Val::None
            }
            FunctionKind::Join => {
                let event = self.input.types.event(e);
                self.join(event, &args[0]);
                Val::None
            }
            FunctionKind::Printf
            | FunctionKind::Log { .. }
            | FunctionKind::Exit
            | FunctionKind::Print
            | FunctionKind::Clear
            | FunctionKind::Zero
            | FunctionKind::Time
            | FunctionKind::Cat
            | FunctionKind::System => {
                let event = self.input.types.event(e);
                self.send_event(event, args, f.kind);
                Val::None
            }
            FunctionKind::Delete => {
                let (map_name, keys): (&str, &[Expr]) = match args {
                    [
                        Expr {
                            kind: ExprKind::Map { name, keys },
                            ..
                        },
                    ] => (name, keys),
                    [
                        Expr {
                            kind: ExprKind::Map { name, .. },
                            ..
                        },
                        Expr {
                            kind: ExprKind::Tuple(items),
                            ..
                        },
                    ] => (name, items),
                    [
                        Expr {
                            kind: ExprKind::Map { name, .. },
                            ..
                        },
                        k,
                    ] => (name, std::slice::from_ref(k)),
                    _ => panic!("bug: unchecked delete"),
                };
                let index = self.map_index(map_name);
                let (key, _) = self.map_key(index, keys, None);
                let map = self.map_ptr(index);
                let k = self.addr(key, 0);
                let rc = self.helper(helper::MAP_DELETE_ELEM, &[map, k]);
                let zero = self.iconst(0);
                Val::Int(self.bool_value(IntCC::Equal, rc, zero))
            }
            FunctionKind::Str => {
                if let Some(Expr {
                    kind: ExprKind::Positional(n),
                    ..
                }) = args.first()
                {
                    let text = self.input.options.positional_text(*n).to_string();
                    return self.str_const(text.as_bytes());
                }
                let ty = self.ty(e).clone();
                let Type::Str { len } = ty else {
                    panic!("bug: str() type")
                };
                let src = match self.expr(&args[0]) {
                    Val::Int(p) => p,
                    Val::Mem(slot) => return Val::Mem(slot),
                    Val::None => panic!("bug: str() of nothing"),
                };
                let slot = self.buffer(len);
                let dst = self.addr(slot, 0);
                let size = self.iconst(len as i64);
                let id = if self.reads_user_memory() {
                    helper::PROBE_READ_USER_STR
                } else {
                    helper::PROBE_READ_KERNEL_STR
                };
                self.helper(id, &[dst, size, src]);
                Val::Mem(slot)
            }
            FunctionKind::Strncmp => {
                let ExprKind::Int(n) = args[2].kind else {
                    panic!("bug: unchecked strncmp length")
                };
                let (a, a_len) = self.str_arg(&args[0]);
                let (b, b_len) = self.str_arg(&args[1]);
                Val::Int(self.str_compare(a, a_len, b, b_len, n as usize))
            }
            FunctionKind::Strcontains | FunctionKind::Strstr => {
                let (h, h_len) = self.str_arg(&args[0]);
                let (n, n_len) = self.str_arg(&args[1]);
                let index = self.str_find(h, h_len, n, n_len);
                Val::Int(if f.kind == FunctionKind::Strstr {
                    index
                } else {
                    let none = self.iconst(-1);
                    self.bool_value(IntCC::NotEqual, index, none)
                })
            }
            FunctionKind::Strlen => {
                let (s, len) = self.str_arg(&args[0]);
                Val::Int(self.str_len(s, len))
            }
            FunctionKind::HasKey => {
                let ExprKind::Map { name: map_name, .. } = &args[0].kind else {
                    panic!("bug: unchecked has_key")
                };
                let keys = match &args[1].kind {
                    ExprKind::Tuple(items) => items.as_slice(),
                    _ => std::slice::from_ref(&args[1]),
                };
                let index = self.map_index(map_name);
                let (key, _) = self.map_key(index, keys, None);
                let p = self.lookup(index, key);
                let null = self.iconst(0);
                Val::Int(self.bool_value(IntCC::NotEqual, p, null))
            }
            FunctionKind::Signal => {
                let sig = match &args[0].kind {
                    ExprKind::Str(name) => self.iconst(
                        crate::sema::signal_number(name)
                            .unwrap_or_else(|| panic!("bug: unchecked signal name")),
                    ),
                    _ => self.int(&args[0]),
                };
                self.helper(helper::SEND_SIGNAL, &[sig]);
                Val::None
            }
            FunctionKind::Render(render) => {
                let v = self.int(&args[0]);
                let slot = self.buffer(render.size());
                self.mem_store(v, slot, 0);
                if render.size() == 16 {
                    let pid = self.current_pid();
                    self.mem_store(pid, slot, 8);
                }
                Val::Mem(slot)
            }
            FunctionKind::Stack { user } => {
                let slot = self.buffer(if user { 16 } else { 8 });
                let stacks = self.input.maps.stacks;
                let map = self.map_ptr(stacks);
                let flags = self.iconst(if user {
                    BPF_F_USER_STACK | BPF_F_REUSE_STACKID
                } else {
                    BPF_F_REUSE_STACKID
                });
                let ctx = self.ctx;
                let id = self.helper(helper::GET_STACKID, &[ctx, map, flags]);
                self.mem_store(id, slot, 0);
                if user {
                    let pid = self.current_pid();
                    self.mem_store(pid, slot, 8);
                }
                Val::Mem(slot)
            }
            FunctionKind::Nsecs => {
                let clock = match args.first().map(|a| &a.kind) {
                    Some(ExprKind::Ident(c)) => c.as_str(),
                    _ => "boot",
                };
                Val::Int(match clock {
                    "monotonic" => self.helper(helper::KTIME_GET_NS, &[]),
                    "tai" => self.helper(helper::KTIME_GET_TAI_NS, &[]),
                    "sw_tai" => {
                        let boot = self.helper(helper::KTIME_GET_BOOT_NS, &[]);
                        let offset = self.global(maps::Global::SwTaiOffset);
                        self.b.ins().iadd(boot, offset)
                    }
                    _ => self.helper(helper::KTIME_GET_BOOT_NS, &[]),
                })
            }
            FunctionKind::Ntop => {
                let slot = self.buffer(Render::Inet.size());
                let addr_expr = &args[args.len() - 1];
                let addr_ty = self.ty(addr_expr).clone();
                let given_af = if args.len() == 2 {
                    Some(self.int(&args[0]))
                } else {
                    None
                };
                let addr = self.expr(addr_expr);
                let bytes = match (&addr, &addr_ty) {
                    (Val::Mem(m), Type::Buf { len }) => {
                        let src = Self::sub(*m, 8, m.size as usize - 8);
                        self.copy(slot, 8, src, (*len).min(16));
                        *len
                    }
                    (Val::Mem(m), _) => {
                        let n = (m.size as usize).min(16);
                        self.copy(slot, 8, *m, n);
                        n
                    }
                    (Val::Int(v), _) => {
                        let v32 = self.b.ins().ireduce(types::I32, *v);
                        self.mem_store(v32, slot, 8);
                        4
                    }
                    (Val::None, _) => panic!("bug: ntop of nothing"),
                };
                let af = match given_af {
                    Some(af) => af,
                    None => self.iconst(if bytes > 4 { AF_INET6 } else { AF_INET }),
                };
                self.mem_store(af, slot, 0);
                Val::Mem(slot)
            }
            FunctionKind::Pton => {
                let ExprKind::Str(text) = &args[0].kind else {
                    panic!("bug: unchecked pton")
                };
                let bytes =
                    crate::sema::pton(text).unwrap_or_else(|| panic!("bug: unchecked pton"));
                self.constant_buf(&bytes)
            }
            FunctionKind::Strftime => {
                let v = self.int(&args[1]);
                let slot = self.buffer(8);
                self.mem_store(v, slot, 0);
                Val::Mem(slot)
            }
            FunctionKind::Buf => {
                let Type::Buf { len } = *self.ty(e) else {
                    panic!("bug: buf() type")
                };
                let slot = self.buffer(8 + len);
                let n = self.iconst(len as i64);
                self.mem_store(n, slot, 0);
                let src_ty = self.ty(&args[0]).clone();
                match self.expr(&args[0]) {
                    Val::Mem(m) => {
                        let (from, size) = match src_ty {
                            Type::Buf { .. } => {
                                (Self::sub(m, 8, m.size as usize - 8), m.size as usize - 8)
                            }
                            _ => (m, m.size as usize),
                        };
                        self.copy(slot, 8, from, len.min(size));
                    }
                    Val::Int(p) => {
                        if len > 0 {
                            let dst = self.addr(slot, 8);
                            let size = self.iconst(len as i64);
                            let id = if self.reads_user_memory() {
                                helper::PROBE_READ_USER
                            } else {
                                helper::PROBE_READ_KERNEL
                            };
                            self.helper(id, &[dst, size, p]);
                        }
                    }
                    Val::None => panic!("bug: buf() of nothing"),
                }
                Val::Mem(slot)
            }
            FunctionKind::Len => {
                let Some(ExprKind::Map { name, .. }) = args.first().map(|a| &a.kind) else {
                    panic!("bug: len() of something else than a map passed the checker")
                };
                let index = self.map_index(name);
                Val::Int(self.map_len(index))
            }
            FunctionKind::Kaddr => {
                let symbol = match &args[0].kind {
                    ExprKind::Str(text) => String::from_utf8_lossy(text).into_owned(),
                    ExprKind::Call { args, .. } => match &args[0].kind {
                        ExprKind::Positional(n) => {
                            self.input.options.positional_text(*n).to_string()
                        }
                        _ => panic!("bug: unchecked kaddr"),
                    },
                    _ => panic!("bug: unchecked kaddr"),
                };
                let addr = self.input.tables.kaddrs[&symbol];
                Val::Int(self.iconst(addr as i64))
            }
            FunctionKind::Getopt => {
                let value = crate::sema::getopt_args(args)
                    .ok()
                    .and_then(|(name, default)| self.input.options.getopt(&name, default).ok())
                    .unwrap_or_else(|| panic!("bug: unchecked getopt()"));
                match value {
                    Getopt::Int(v) => Val::Int(self.iconst(v as i64)),
                    Getopt::Bool(b) => Val::Int(self.iconst(i64::from(b))),
                    Getopt::Str(s) => self.str_const(s.as_bytes()),
                }
            }
            FunctionKind::Bswap => {
                let v = self.int(&args[0]);
                let (bits, signed) = match self.ty(e) {
                    Type::Int { bits, signed } => (*bits, *signed),
                    _ => (64, false),
                };
                Val::Int(self.bswap(v, bits, signed))
            }
        }
    }

    // ----- string functions: loops over the zero-padded buffers, bounded by their types -----

    /// A string argument's buffer and its length as typed.
    fn str_arg(&mut self, e: &Expr) -> (Mem, usize) {
        let Type::Str { len } = *self.ty(e) else {
            panic!("bug: string function on a non-string")
        };
        let Val::Mem(m) = self.expr(e) else {
            panic!("bug: string in a register")
        };
        (m, len.min(m.size as usize))
    }

    /// The byte at `index` (a register) of a buffer, zero-extended.
    fn byte_at(&mut self, mem: Mem, index: ir::Value) -> ir::Value {
        let base = self.addr(mem, 0);
        let p = self.b.ins().iadd(base, index);
        self.b.ins().uload8(types::I64, flags(), p, 0)
    }

    /// 0 when `a` and `b` agree up to their NUL or `n` bytes, else 1.
    fn str_compare(&mut self, a: Mem, a_len: usize, b: Mem, b_len: usize, n: usize) -> ir::Value {
        let bound = n.min(a_len).min(b_len);
        let out = self.b.declare_var(types::I64);
        let i = self.b.declare_var(types::I64);
        let zero = self.iconst(0);
        self.b.def_var(out, zero);
        self.b.def_var(i, zero);
        let header = self.b.create_block();
        let body = self.b.create_block();
        let same = self.b.create_block();
        let next = self.b.create_block();
        let differ = self.b.create_block();
        let tail = self.b.create_block();
        let done = self.b.create_block();
        self.b.ins().jump(header, &[]);

        self.b.switch_to_block(header);
        let at = self.b.use_var(i);
        let more = self
            .b
            .ins()
            .icmp_imm_s(IntCC::UnsignedLessThan, at, bound as i64);
        self.b.ins().brif(more, body, &[], tail, &[]);

        self.b.switch_to_block(body);
        let x = self.byte_at(a, at);
        let y = self.byte_at(b, at);
        let ne = self.b.ins().icmp(IntCC::NotEqual, x, y);
        self.b.ins().brif(ne, differ, &[], same, &[]);

        self.b.switch_to_block(same);
        self.b.ins().brif(x, next, &[], done, &[]);

        self.b.switch_to_block(next);
        let at = self.b.ins().iadd_imm_s(at, 1);
        self.b.def_var(i, at);
        self.b.ins().jump(header, &[]);

        self.b.switch_to_block(differ);
        let one = self.iconst(1);
        self.b.def_var(out, one);
        self.b.ins().jump(done, &[]);

        // Every byte up to `bound` agreed without a NUL: the shorter buffer ends there, so the
        // strings differ if the longer one goes on within `n`.
        self.b.switch_to_block(tail);
        if n > bound && a_len != b_len {
            let (longer, _) = if a_len > b_len {
                (a, a_len)
            } else {
                (b, b_len)
            };
            let at = self.iconst(bound as i64);
            let c = self.byte_at(longer, at);
            let more = self.b.ins().icmp_imm_s(IntCC::NotEqual, c, 0);
            let more = self.b.ins().uextend(types::I64, more);
            self.b.def_var(out, more);
        }
        self.b.ins().jump(done, &[]);

        self.b.switch_to_block(done);
        self.b.use_var(out)
    }

    /// The index of the first occurrence of the needle `n` in the haystack `h`, or -1; both end
    /// at their first NUL. The empty needle is found at 0.
    fn str_find(&mut self, h: Mem, h_len: usize, n: Mem, n_len: usize) -> ir::Value {
        let out = self.b.declare_var(types::I64);
        let i = self.b.declare_var(types::I64);
        let j = self.b.declare_var(types::I64);
        let zero = self.iconst(0);
        let none = self.iconst(-1);
        self.b.def_var(out, none);
        self.b.def_var(i, zero);
        self.b.def_var(j, zero);
        let outer = self.b.create_block();
        let start = self.b.create_block();
        let inner = self.b.create_block();
        let needle_byte = self.b.create_block();
        let compare = self.b.create_block();
        let matched = self.b.create_block();
        let advance = self.b.create_block();
        let found = self.b.create_block();
        let done = self.b.create_block();
        let first = self.byte_at(n, zero);
        self.b.ins().brif(first, outer, &[], found, &[]);

        self.b.switch_to_block(outer);
        let at = self.b.use_var(i);
        let more = self
            .b
            .ins()
            .icmp_imm_s(IntCC::UnsignedLessThan, at, h_len as i64);
        self.b.ins().brif(more, start, &[], done, &[]);

        self.b.switch_to_block(start);
        let c = self.byte_at(h, at);
        let zero = self.iconst(0);
        self.b.def_var(j, zero);
        self.b.ins().brif(c, inner, &[], done, &[]);

        self.b.switch_to_block(inner);
        let k = self.b.use_var(j);
        let more = self
            .b
            .ins()
            .icmp_imm_s(IntCC::UnsignedLessThan, k, n_len as i64);
        self.b.ins().brif(more, needle_byte, &[], found, &[]);

        self.b.switch_to_block(needle_byte);
        let nc = self.byte_at(n, k);
        self.b.ins().brif(nc, compare, &[], found, &[]);

        // The haystack ends before the needle does: no later start can match either.
        self.b.switch_to_block(compare);
        let at = self.b.use_var(i);
        let pos = self.b.ins().iadd(at, k);
        let inside = self
            .b
            .ins()
            .icmp_imm_s(IntCC::UnsignedLessThan, pos, h_len as i64);
        self.b.ins().brif(inside, matched, &[], done, &[]);

        self.b.switch_to_block(matched);
        let hc = self.byte_at(h, pos);
        let ne = self.b.ins().icmp(IntCC::NotEqual, hc, nc);
        let k1 = self.b.ins().iadd_imm_s(k, 1);
        self.b.def_var(j, k1);
        self.b.ins().brif(ne, advance, &[], inner, &[]);

        self.b.switch_to_block(advance);
        let at = self.b.use_var(i);
        let at = self.b.ins().iadd_imm_s(at, 1);
        self.b.def_var(i, at);
        self.b.ins().jump(outer, &[]);

        self.b.switch_to_block(found);
        let at = self.b.use_var(i);
        self.b.def_var(out, at);
        self.b.ins().jump(done, &[]);

        self.b.switch_to_block(done);
        self.b.use_var(out)
    }

    /// Bytes before the first NUL (the whole buffer if it has none).
    fn str_len(&mut self, s: Mem, len: usize) -> ir::Value {
        let i = self.b.declare_var(types::I64);
        let zero = self.iconst(0);
        self.b.def_var(i, zero);
        let header = self.b.create_block();
        let body = self.b.create_block();
        let next = self.b.create_block();
        let done = self.b.create_block();
        self.b.ins().jump(header, &[]);

        self.b.switch_to_block(header);
        let at = self.b.use_var(i);
        let more = self
            .b
            .ins()
            .icmp_imm_s(IntCC::UnsignedLessThan, at, len as i64);
        self.b.ins().brif(more, body, &[], done, &[]);

        self.b.switch_to_block(body);
        let c = self.byte_at(s, at);
        self.b.ins().brif(c, next, &[], done, &[]);

        self.b.switch_to_block(next);
        let at = self.b.ins().iadd_imm_s(at, 1);
        self.b.def_var(i, at);
        self.b.ins().jump(header, &[]);

        self.b.switch_to_block(done);
        self.b.use_var(i)
    }

    /// Reverses the low `bits` bits of `v` byte by byte (shifts and masks: BPF_END would do,
    /// but the backend does not select it yet), then extends the result as its type says.
    fn bswap(&mut self, v: ir::Value, bits: u8, signed: bool) -> ir::Value {
        let bytes = i64::from(bits.max(8) / 8);
        let mut out = self.iconst(0);
        for k in 0..bytes {
            let byte = self.b.ins().ushr_imm_s(v, 8 * k);
            let byte = self.b.ins().band_imm_s(byte, 0xff);
            let byte = self.b.ins().ishl_imm_s(byte, 8 * (bytes - 1 - k));
            out = self.b.ins().bor(out, byte);
        }
        self.cast(out, bits, signed)
    }

    /// `join(argv)`: the record holds each string of the array, read until its NULL pointer
    /// (at most `JOIN_ARGS`), in slots of `JOIN_ARG_BYTES`; the rest stay empty.
    fn join(&mut self, event: usize, argv: &Expr) {
        use crate::sema::{JOIN_ARG_BYTES, JOIN_ARGS};
        let base = self.int(argv);
        let record = self.buffer(8 + JOIN_ARGS * JOIN_ARG_BYTES);
        let id = self.iconst(event as i64);
        self.mem_store(id, record, 0);
        let (read, read_str) = if self.reads_user_memory() {
            (helper::PROBE_READ_USER, helper::PROBE_READ_USER_STR)
        } else {
            (helper::PROBE_READ_KERNEL, helper::PROBE_READ_KERNEL_STR)
        };
        let ptr = self.buffer(8);
        let done = self.b.create_block();
        for i in 0..JOIN_ARGS {
            let dst = self.addr(ptr, 0);
            let size = self.iconst(8);
            let at = self.b.ins().iadd_imm_s(base, (i * 8) as i64);
            self.helper(read, &[dst, size, at]);
            let p = self.mem_load(ptr, 0);
            let next = self.b.create_block();
            self.b.ins().brif(p, next, &[], done, &[]);
            self.b.switch_to_block(next);
            let dst = self.addr(record, (8 + i * JOIN_ARG_BYTES) as i32);
            let size = self.iconst(JOIN_ARG_BYTES as i64);
            self.helper(read_str, &[dst, size, p]);
        }
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
        let events = self.input.maps.events;
        let rb = self.map_ptr(events);
        let data = self.addr(record, 0);
        let len = self.iconst((8 + JOIN_ARGS * JOIN_ARG_BYTES) as i64);
        let flags = self.iconst(0);
        let rc = self.helper(helper::RINGBUF_OUTPUT, &[rb, data, len, flags]);
        self.count_failure(rc, 0);
    }

    /// Writes an event record (8-byte event id, then its payload) to the ring buffer; counts it
    /// as lost if the ring buffer refuses it.
    fn send_event(&mut self, event: usize, args: &[Expr], kind: FunctionKind) {
        let payload_types = self.input.tables.events[event].payload_types();
        let payload: Vec<(Val, Type)> = match (kind, &self.input.tables.events[event]) {
            (
                FunctionKind::Printf
                | FunctionKind::Log { .. }
                | FunctionKind::Cat
                | FunctionKind::System,
                _,
            ) => args[1..]
                .iter()
                .zip(&payload_types)
                .map(|(a, t)| (self.expr(a), t.clone()))
                .collect(),
            (FunctionKind::Exit, _) => {
                let code = match args.first() {
                    Some(a) => self.int(a),
                    None => self.iconst(0),
                };
                vec![(Val::Int(code), Type::I64)]
            }
            (_, Event::PrintValue { ty }) => vec![(self.expr(&args[0]), ty.clone())],
            _ => vec![],
        };
        let size = 8 + payload_types.iter().map(Type::size).sum::<usize>();
        let record = self.buffer(size);
        let id = self.iconst(event as i64);
        self.mem_store(id, record, 0);
        let mut off = 8;
        for (v, t) in &payload {
            self.store_val(record, off, v, t);
            off += t.size();
        }
        let events = self.input.maps.events;
        let rb = self.map_ptr(events);
        let data = self.addr(record, 0);
        let len = self.iconst(size as i64);
        let flags = self.iconst(0);
        let rc = self.helper(helper::RINGBUF_OUTPUT, &[rb, data, len, flags]);
        self.count_failure(rc, 0);
        if kind == FunctionKind::Exit {
            // exit() ends this probe's run at once, as in bpftrace.
            self.jump_away(self.exit);
        }
    }
}

/// What the verifier finds in a BTF record at a byte range (`btf_struct_walk`): a number, or
/// a pointer to a record (which it types as PTR_TO_BTF_ID in turn).
#[derive(Debug, PartialEq, Eq)]
enum BtfView {
    Scalar,
    Ptr(String),
}

/// What the verifier sees when a program loads `size` bytes at `offset` of `record`, or None
/// when it refuses the load. Like the kernel's walk, the first member (in declaration order)
/// that covers `offset` decides, so a union reads as its first member there; anonymous
/// members are flattened in place, which keeps that order. Bitfields are left alone.
fn verifier_view(record: &Record, offset: usize, size: usize) -> Option<BtfView> {
    for f in &record.fields {
        let len = f.ty.c_size();
        let (start, end) = (f.offset, f.offset + len);
        if f.bitfield.is_some() {
            if start < offset + size && offset < end.max(start + 1) {
                return None;
            }
            continue;
        }
        if start <= offset && offset < end {
            return member_view(&f.ty, offset - start, size, len);
        }
    }
    None
}

/// Bytes copied by plain loads at most: beyond, one probe read costs less.
const BTF_COPY_LIMIT: usize = 32;

/// How to copy `size` bytes at `offset` of `record` in loads of numbers (offset within the
/// copy, width), each as wide as alignment allows and a number to the verifier; None when
/// some byte is not (a pointer, padding) or the copy is long.
fn btf_copy(record: &Record, offset: usize, size: usize) -> Option<Vec<(usize, usize)>> {
    if size == 0 || size > BTF_COPY_LIMIT {
        return None;
    }
    let mut chunks = Vec::new();
    let mut at = 0;
    while at < size {
        let width = [8, 4, 2, 1].into_iter().find(|w| {
            at + w <= size
                && (offset + at) % w == 0
                && verifier_view(record, offset + at, *w) == Some(BtfView::Scalar)
        })?;
        chunks.push((at, width));
        at += width;
    }
    Some(chunks)
}

/// What the verifier sees in a member of type `ty` read at `offset` within it, whose bytes
/// (the whole array's, for an element) end at `end`.
fn member_view(ty: &Type, offset: usize, size: usize, end: usize) -> Option<BtfView> {
    match ty {
        Type::Record(r) => verifier_view(r, offset, size),
        Type::Array { elem, .. } => {
            let step = elem.c_size();
            if step == 0 {
                return None;
            }
            let start = offset / step * step;
            member_view(elem, offset - start, size, end - start)
        }
        Type::Ptr(p) => match &**p {
            // Whether the name is a record or not is decided by the caller's lookup; the
            // verifier insists on the whole pointer.
            Type::Named(name) => (offset == 0 && size == 8).then(|| BtfView::Ptr(name.clone())),
            _ => (offset + size <= end).then_some(BtfView::Scalar),
        },
        Type::Opaque { .. } => None,
        _ => (offset + size <= end).then_some(BtfView::Scalar),
    }
}

#[cfg(test)]
mod tests {
    use super::{BtfView, verifier_view};
    use crate::types::{Bitfield, Field, Record, Type};
    use std::sync::Arc;

    fn field(name: &str, offset: usize, ty: Type) -> Field {
        Field {
            name: name.into(),
            offset,
            ty,
            bitfield: None,
        }
    }

    /// `struct s { union { struct t *p; unsigned long v; }; int a[2]; unsigned f:3; }` with the
    /// union flattened in place, as the runtime's BTF reader gives it.
    fn record() -> Record {
        let ptr = Type::Ptr(Box::new(Type::Named("struct t".into())));
        Record {
            name: "struct s".into(),
            size: 24,
            align: 8,
            fields: vec![
                field("p", 0, ptr),
                field("v", 0, Type::U64),
                field(
                    "a",
                    8,
                    Type::Array {
                        elem: Box::new(Type::I32),
                        len: 2,
                    },
                ),
                Field {
                    bitfield: Some(Bitfield { shift: 0, bits: 3 }),
                    ..field("f", 16, Type::U32)
                },
            ],
        }
    }

    #[test]
    fn the_first_member_of_a_union_decides() {
        let r = record();
        assert_eq!(
            verifier_view(&r, 0, 8),
            Some(BtfView::Ptr("struct t".into()))
        );
        // `v` is the pointer to the verifier: not a number it lets the program use freely.
        assert_ne!(verifier_view(&r, 0, 8), Some(BtfView::Scalar));
        // Part of a pointer is refused.
        assert_eq!(verifier_view(&r, 0, 4), None);
    }

    #[test]
    fn arrays_bitfields_and_the_end() {
        let r = record();
        assert_eq!(verifier_view(&r, 12, 4), Some(BtfView::Scalar));
        // Within the array's bytes, wider than an element.
        assert_eq!(verifier_view(&r, 8, 8), Some(BtfView::Scalar));
        assert_eq!(verifier_view(&r, 12, 8), None);
        assert_eq!(verifier_view(&r, 16, 4), None);
        assert_eq!(verifier_view(&r, 24, 1), None);
        let nested = Record {
            name: "struct o".into(),
            size: 32,
            align: 8,
            fields: vec![
                field("x", 0, Type::U64),
                field("in", 8, Type::Record(Arc::new(r))),
            ],
        };
        assert_eq!(verifier_view(&nested, 20, 4), Some(BtfView::Scalar));
        assert_eq!(
            verifier_view(&nested, 8, 8),
            Some(BtfView::Ptr("struct t".into()))
        );
    }
}
