//! Builtin variables, each with the IR it lowers to.

use rbt_compiler::catalogue::{Attach, ProbeClass, Variable};
use rbt_compiler::lower::{Lowerer, Val, helper};
use rbt_compiler::maps::Global;
use rbt_compiler::types::{Render, Type};

use rbt_compiler::ir::InstBuilder;

/// argN: from registers in kprobes and uprobes, from the context's slots in fentry/fexit (where
/// a kprobe may stand as fentry).
const REGISTER_ARGS: &[ProbeClass] = &[
    ProbeClass::Kprobe,
    ProbeClass::Uprobe,
    ProbeClass::Fentry,
    ProbeClass::Fexit,
];
const RETURNS: &[ProbeClass] = &[
    ProbeClass::Kretprobe,
    ProbeClass::Uretprobe,
    ProbeClass::Fexit,
];
const FUNCTIONS: &[ProbeClass] = &[
    ProbeClass::Kprobe,
    ProbeClass::Kretprobe,
    ProbeClass::Uprobe,
    ProbeClass::Uretprobe,
    ProbeClass::Fentry,
    ProbeClass::Fexit,
];
const ARGS: &[ProbeClass] = &[
    ProbeClass::Tracepoint,
    ProbeClass::Fentry,
    ProbeClass::Fexit,
];

/// Byte offsets in x86-64 `struct pt_regs` of the argument registers rdi, rsi, rdx, rcx, r8, r9.
const ARG_OFFSETS: [i32; 6] = [112, 104, 96, 88, 72, 64];
/// Offset of rax, the return value.
const RAX_OFFSET: i32 = 80;
/// Offset of cs, whose low two bits are the privilege level the probe interrupted.
const CS_OFFSET: i32 = 136;

fn pid_tgid(lx: &mut Lowerer) -> rbt_compiler::ir::Value {
    lx.helper(helper::GET_CURRENT_PID_TGID, &[])
}

fn uid_gid(lx: &mut Lowerer) -> rbt_compiler::ir::Value {
    lx.helper(helper::GET_CURRENT_UID_GID, &[])
}

fn arg(lx: &mut Lowerer, n: usize) -> Val {
    match lx.function_proto().map(|p| p.ret_offset() / 8) {
        // fentry/fexit: the nth 8-byte slot; past the last one the verifier forbids reading,
        // and the function has no such argument: 0.
        Some(slots) if (n as u32) < slots => Val::Int(lx.load_ctx(8 * n as i32, 64, false)),
        Some(_) => Val::Int(lx.iconst(0)),
        None => Val::Int(lx.load_ctx(ARG_OFFSETS[n], 64, false)),
    }
}

fn name_string(lx: &mut Lowerer, name: Option<String>) -> Val {
    let name = name.unwrap_or_default();
    lx.str_const(name.as_bytes())
}

pub fn all() -> Vec<Variable> {
    vec![
        Variable {
            name: "pid",
            doc: "Process id (the kernel's thread-group id) of the current task.",
            allowed: &[],
            ty: Type::U32,
            lower: |lx| {
                let v = pid_tgid(lx);
                Val::Int(lx.ins().ushr_imm_s(v, 32))
            },
        },
        Variable {
            name: "tid",
            doc: "Thread id of the current task.",
            allowed: &[],
            ty: Type::U32,
            lower: |lx| {
                let v = pid_tgid(lx);
                Val::Int(lx.ins().band_imm_s(v, 0xffff_ffff))
            },
        },
        Variable {
            name: "uid",
            doc: "User id of the current task.",
            allowed: &[],
            ty: Type::U64,
            lower: |lx| {
                let v = uid_gid(lx);
                Val::Int(lx.ins().band_imm_s(v, 0xffff_ffff))
            },
        },
        Variable {
            name: "gid",
            doc: "Group id of the current task.",
            allowed: &[],
            ty: Type::U64,
            lower: |lx| {
                let v = uid_gid(lx);
                Val::Int(lx.ins().ushr_imm_s(v, 32))
            },
        },
        Variable {
            name: "comm",
            doc: "Name of the current thread (16 bytes).",
            allowed: &[],
            ty: Type::Str { len: 16 },
            lower: |lx| {
                let slot = lx.buffer(16);
                let p = lx.addr(slot, 0);
                let len = lx.iconst(16);
                lx.helper(helper::GET_CURRENT_COMM, &[p, len]);
                Val::Mem(slot)
            },
        },
        Variable {
            name: "nsecs",
            doc: "Nanoseconds since boot (CLOCK_BOOTTIME).",
            allowed: &[],
            ty: Type::U64,
            lower: |lx| Val::Int(lx.helper(helper::KTIME_GET_BOOT_NS, &[])),
        },
        Variable {
            name: "elapsed",
            doc: "Nanoseconds since rbt started.",
            allowed: &[],
            ty: Type::U64,
            lower: |lx| {
                let now = lx.helper(helper::KTIME_GET_BOOT_NS, &[]);
                let start = lx.global(Global::StartNs);
                Val::Int(lx.ins().isub(now, start))
            },
        },
        Variable {
            name: "ncpus",
            doc: "The number of online CPUs.",
            allowed: &[],
            ty: Type::U64,
            lower: |lx| Val::Int(lx.global(Global::Ncpus)),
        },
        Variable {
            name: "cpid",
            doc: "The pid of the command started with -c (0 without one).",
            allowed: &[],
            ty: Type::U32,
            lower: |lx| Val::Int(lx.global(Global::Cpid)),
        },
        Variable {
            name: "cgroup",
            doc: "The cgroup v2 id of the current task.",
            allowed: &[],
            ty: Type::U64,
            lower: |lx| Val::Int(lx.helper(helper::GET_CURRENT_CGROUP_ID, &[])),
        },
        Variable {
            name: "rand",
            doc: "A pseudo-random 32-bit number.",
            allowed: &[],
            ty: Type::U32,
            lower: |lx| Val::Int(lx.helper(helper::GET_PRANDOM_U32, &[])),
        },
        Variable {
            name: "jiffies",
            doc: "The kernel's jiffies counter.",
            allowed: &[],
            ty: Type::U64,
            lower: |lx| Val::Int(lx.helper(helper::JIFFIES64, &[])),
        },
        Variable {
            name: "numaid",
            doc: "The NUMA node the probe fired on.",
            allowed: &[],
            ty: Type::U32,
            lower: |lx| Val::Int(lx.helper(helper::GET_NUMA_NODE_ID, &[])),
        },
        Variable {
            name: "curtask",
            doc: "The current task: a `struct task_struct *` (curtask->real_parent->pid).",
            allowed: &[],
            ty: Type::Ptr(Box::new(Type::Named("struct task_struct".into()))),
            // Where its fields are read, the helper whose result the verifier types by BTF
            // (Linux 5.11, every tracing program type): the fields are then plain loads.
            lower: |lx| {
                Val::Int(if lx.dereferenced() {
                    let task = lx.helper(helper::GET_CURRENT_TASK_BTF, &[]);
                    let ty = Type::Ptr(Box::new(Type::Named("struct task_struct".into())));
                    lx.btf_pointer(task, &ty)
                } else {
                    lx.helper(helper::GET_CURRENT_TASK, &[])
                })
            },
        },
        Variable {
            name: "cpu",
            doc: "The processor the probe fired on.",
            allowed: &[],
            ty: Type::U32,
            lower: |lx| Val::Int(lx.helper(helper::GET_SMP_PROCESSOR_ID, &[])),
        },
        Variable {
            name: "username",
            doc: "The name of the current task's user (from /etc/passwd).",
            allowed: &[],
            ty: Type::Rendered(Render::Username),
            lower: |lx| {
                let v = uid_gid(lx);
                let uid = lx.ins().band_imm_s(v, 0xffff_ffff);
                let slot = lx.buffer(8);
                lx.mem_store(uid, slot, 0);
                Val::Mem(slot)
            },
        },
        Variable {
            name: "usermode",
            doc: "1 if the probe interrupted user code, else 0 (begin and end count as user code).",
            allowed: &[],
            ty: Type::Int {
                bits: 8,
                signed: false,
            },
            lower: |lx| match lx.attach().class() {
                ProbeClass::Special => Val::Int(lx.iconst(1)),
                // Their context is not the interrupted registers.
                ProbeClass::Tracepoint | ProbeClass::Fentry | ProbeClass::Fexit => {
                    Val::Int(lx.iconst(0))
                }
                _ => {
                    let cs = lx.load_ctx(CS_OFFSET, 64, false);
                    let ring = lx.ins().band_imm_s(cs, 3);
                    let user =
                        lx.ins()
                            .icmp_imm_s(rbt_compiler::ir::condcodes::IntCC::Equal, ring, 3);
                    Val::Int(lx.ins().uextend(rbt_compiler::ir::types::I64, user))
                }
            },
        },
        Variable {
            name: "probetype",
            doc: "The kind of the probe that fired: special, tracepoint, uprobe, interval...",
            allowed: &[],
            ty: Type::Str { len: 16 },
            lower: |lx| {
                let kind = match lx.attach() {
                    Attach::Begin | Attach::End => "special",
                    Attach::Tracepoint { .. } => "tracepoint",
                    Attach::Kprobe { .. } => "kprobe",
                    Attach::Kretprobe { .. } => "kretprobe",
                    Attach::Uprobe { .. } => "uprobe",
                    Attach::Uretprobe { .. } => "uretprobe",
                    Attach::Interval { .. } => "interval",
                    Attach::Profile { .. } => "profile",
                    Attach::Fentry { .. } => "fentry",
                    Attach::Fexit { .. } => "fexit",
                    Attach::Software { .. } => "software",
                    Attach::Signal { .. } => "self",
                };
                lx.str_const(kind.as_bytes())
            },
        },
        Variable {
            name: "arg0",
            doc: "First argument of the traced function.",
            allowed: REGISTER_ARGS,
            ty: Type::U64,
            lower: |lx| arg(lx, 0),
        },
        Variable {
            name: "arg1",
            doc: "Second argument of the traced function.",
            allowed: REGISTER_ARGS,
            ty: Type::U64,
            lower: |lx| arg(lx, 1),
        },
        Variable {
            name: "arg2",
            doc: "Third argument of the traced function.",
            allowed: REGISTER_ARGS,
            ty: Type::U64,
            lower: |lx| arg(lx, 2),
        },
        Variable {
            name: "arg3",
            doc: "Fourth argument of the traced function.",
            allowed: REGISTER_ARGS,
            ty: Type::U64,
            lower: |lx| arg(lx, 3),
        },
        Variable {
            name: "arg4",
            doc: "Fifth argument of the traced function.",
            allowed: REGISTER_ARGS,
            ty: Type::U64,
            lower: |lx| arg(lx, 4),
        },
        Variable {
            name: "arg5",
            doc: "Sixth argument of the traced function.",
            allowed: REGISTER_ARGS,
            ty: Type::U64,
            lower: |lx| arg(lx, 5),
        },
        Variable {
            name: "retval",
            doc: "Return value of the traced function (in fexit, of its BTF type).",
            allowed: RETURNS,
            ty: Type::Return,
            lower: |lx| match lx
                .function_proto()
                .and_then(|p| Some((p.ret_offset(), p.ret.clone()?)))
            {
                // fexit: the slot after the arguments.
                Some((offset, ret)) => {
                    let bits = (ret.size * 8).min(64) as u8;
                    let v = lx.load_ctx(offset as i32, bits, ret.signed);
                    Val::Int(match &ret.ty {
                        Some(ty) => lx.btf_pointer(v, ty),
                        None => v,
                    })
                }
                None => Val::Int(lx.load_ctx(RAX_OFFSET, 64, false)),
            },
        },
        Variable {
            name: "args",
            doc: "The tracepoint's fields or the function's parameters (fentry/fexit): args.filename, args->count.",
            allowed: ARGS,
            ty: Type::Args,
            lower: |_| Val::None,
        },
        Variable {
            name: "probe",
            doc: "The full name of the probe that fired.",
            allowed: &[],
            ty: Type::Str { len: 64 },
            lower: |lx| {
                let name = lx.attach().full_name();
                name_string(lx, Some(name))
            },
        },
        Variable {
            name: "func",
            doc: "Name of the traced function.",
            allowed: FUNCTIONS,
            ty: Type::Str { len: 64 },
            lower: |lx| {
                let name = lx.attach().function().map(str::to_string);
                name_string(lx, name)
            },
        },
    ]
}
