//! rbt's own eBPF backend: optimized cranelift IR in, eBPF instructions out.
//!
//! Contract with `lower` (which builds the IR): see ARCHITECTURE.md, "The CLIF subset".
//! Phases: `isel` turns CLIF into `vcode` (BPF-shaped instructions on virtual registers),
//! regalloc2 assigns r0-r9 and spill slots, `emit` writes the final instructions.

mod emit;
mod isel;
mod listing;
mod vcode;

#[cfg(test)]
mod tests;

pub use listing::listing;

/// One eBPF instruction, as the kernel encodes it (`struct bpf_insn`).
/// An `ld_imm64` is two `Insn`s, the second holding the upper 32 bits in `imm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

/// A reference from an `ld_imm64` to a map, resolved by the loader through an ELF relocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapReloc {
    /// Index in `Program::insns` of the first half of the `ld_imm64`.
    pub insn: usize,
    /// Index of the map in the compiled script's map table.
    pub map: u32,
}

/// A reference from an `ld_imm64` (`src_reg` `PSEUDO_FUNC`) to a callback function that a
/// helper such as `bpf_loop` calls; the loader resolves it through an ELF relocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FuncReloc {
    /// Index in `Program::insns` of the first half of the `ld_imm64`.
    pub insn: usize,
    /// Index of the callback among its program's callbacks.
    pub callback: u32,
}

/// Which helper calls a callback, which fixes its arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallbackKind {
    /// `bpf_loop`: `(index, ctx)`.
    Loop,
    /// `bpf_for_each_map_elem`: `(map, key, value, ctx)`.
    ForEachMapElem,
}

/// A compiled eBPF function: its instructions and the map and callback references among them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Program {
    pub insns: Vec<Insn>,
    pub relocs: Vec<MapReloc>,
    pub funcs: Vec<FuncReloc>,
}

/// A program and its callbacks as one instruction sequence, as a loader that is not aya
/// needs it: callbacks appended in order, each reference to one resolved as the kernel wants
/// (`src_reg` `BPF_PSEUDO_FUNC`, `imm` the distance from the next instruction), map references
/// at their new places.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Linked {
    pub insns: Vec<Insn>,
    pub relocs: Vec<MapReloc>,
    /// Where each function starts: 0 for the program, then each callback's first instruction.
    pub starts: Vec<u32>,
}

const PSEUDO_FUNC: u8 = 4;

pub fn link(program: &Program, callbacks: &[&Program]) -> Linked {
    let mut starts = vec![0];
    let mut len = program.insns.len();
    for c in callbacks {
        starts.push(len as u32);
        len += c.insns.len();
    }
    let mut linked = Linked {
        insns: Vec::with_capacity(len),
        relocs: Vec::new(),
        starts,
    };
    for (part, start) in std::iter::once(program)
        .chain(callbacks.iter().copied())
        .zip(linked.starts.clone())
    {
        let start = start as usize;
        linked.insns.extend(&part.insns);
        linked.relocs.extend(part.relocs.iter().map(|r| MapReloc {
            insn: start + r.insn,
            map: r.map,
        }));
        for f in &part.funcs {
            let at = start + f.insn;
            let target = linked.starts[f.callback as usize + 1] as i64;
            linked.insns[at].src = PSEUDO_FUNC;
            linked.insns[at].imm = (target - at as i64 - 1) as i32;
        }
    }
    linked
}

/// Why a function cannot become an eBPF program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The program's stack slots and spills need more than the 512 bytes BPF allows.
    StackTooLarge { bytes: u32 },
    /// A jump spans more instructions than a BPF jump can (32767 either way).
    JumpTooFar { distance: i64 },
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Error::StackTooLarge { bytes } => write!(
                f,
                "the program needs {bytes} bytes of stack, more than the 512 bytes eBPF allows"
            ),
            Error::JumpTooFar { distance } => write!(
                f,
                "it is too long: a jump over {distance} instructions, more than eBPF's 32767"
            ),
        }
    }
}

impl std::error::Error for Error {}

/// The most stack a BPF program may use, in bytes.
pub const STACK_LIMIT: u32 = 512;

/// Compiles one optimized function of the CLIF subset `lower` produces into an eBPF program.
pub fn compile(func: &cranelift_codegen::ir::Function) -> Result<Program, Error> {
    let vcode = isel::select(func);
    emit::emit(&vcode)
}

/// Raw bytes of the instructions (little-endian `struct bpf_insn`), for the ELF writer.
pub fn encode(insns: &[Insn]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(insns.len() * 8);
    for insn in insns {
        bytes.push(insn.code);
        bytes.push((insn.src << 4) | (insn.dst & 0x0f));
        bytes.extend_from_slice(&insn.off.to_le_bytes());
        bytes.extend_from_slice(&insn.imm.to_le_bytes());
    }
    bytes
}

/// Opcode parts (`include/uapi/linux/bpf.h`, `bpf_common.h`).
pub mod op {
    // Classes.
    pub const LD: u8 = 0x00;
    pub const LDX: u8 = 0x01;
    pub const ST: u8 = 0x02;
    pub const STX: u8 = 0x03;
    pub const ALU: u8 = 0x04;
    pub const JMP: u8 = 0x05;
    pub const JMP32: u8 = 0x06;
    pub const ALU64: u8 = 0x07;
    // Sizes.
    pub const W: u8 = 0x00;
    pub const H: u8 = 0x08;
    pub const B: u8 = 0x10;
    pub const DW: u8 = 0x18;
    // Modes.
    pub const IMM: u8 = 0x00;
    pub const MEM: u8 = 0x60;
    pub const ATOMIC: u8 = 0xc0;
    // Sources.
    pub const K: u8 = 0x00;
    pub const X: u8 = 0x08;
    // ALU operations.
    pub const ADD: u8 = 0x00;
    pub const SUB: u8 = 0x10;
    pub const MUL: u8 = 0x20;
    pub const DIV: u8 = 0x30;
    pub const OR: u8 = 0x40;
    pub const AND: u8 = 0x50;
    pub const LSH: u8 = 0x60;
    pub const RSH: u8 = 0x70;
    pub const NEG: u8 = 0x80;
    pub const MOD: u8 = 0x90;
    pub const XOR: u8 = 0xa0;
    pub const MOV: u8 = 0xb0;
    pub const ARSH: u8 = 0xc0;
    // Jump operations.
    pub const JA: u8 = 0x00;
    pub const JEQ: u8 = 0x10;
    pub const JGT: u8 = 0x20;
    pub const JGE: u8 = 0x30;
    pub const JSET: u8 = 0x40;
    pub const JNE: u8 = 0x50;
    pub const JSGT: u8 = 0x60;
    pub const JSGE: u8 = 0x70;
    pub const CALL: u8 = 0x80;
    pub const EXIT: u8 = 0x90;
    pub const JLT: u8 = 0xa0;
    pub const JLE: u8 = 0xb0;
    pub const JSLT: u8 = 0xc0;
    pub const JSLE: u8 = 0xd0;
    // Atomic operations (in `imm`).
    pub const FETCH: i32 = 0x01;
    /// `src_reg` of an `ld_imm64` whose `imm` is a map file descriptor.
    pub const PSEUDO_MAP_FD: u8 = 1;
    /// `src_reg` of an `ld_imm64` whose `imm` is the offset of a function, in instructions.
    pub const PSEUDO_FUNC: u8 = 4;
}

/// The frame pointer register, read-only.
pub const FP: u8 = 10;

/// Constructors for hand-assembled instructions.
impl Insn {
    pub const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            dst,
            src,
            off,
            imm,
        }
    }

    /// `dst op= src` on 64 bits (`op` is one of `op::ADD`..`op::ARSH`).
    pub const fn alu64_reg(operation: u8, dst: u8, src: u8) -> Insn {
        Insn::new(op::ALU64 | operation | op::X, dst, src, 0, 0)
    }

    /// `dst op= imm` on 64 bits (imm sign-extended).
    pub const fn alu64_imm(operation: u8, dst: u8, imm: i32) -> Insn {
        Insn::new(op::ALU64 | operation | op::K, dst, 0, 0, imm)
    }

    /// `wdst op= wsrc` on 32 bits (the result is zero-extended).
    pub const fn alu32_reg(operation: u8, dst: u8, src: u8) -> Insn {
        Insn::new(op::ALU | operation | op::X, dst, src, 0, 0)
    }

    /// `wdst op= imm` on 32 bits (the result is zero-extended).
    pub const fn alu32_imm(operation: u8, dst: u8, imm: i32) -> Insn {
        Insn::new(op::ALU | operation | op::K, dst, 0, 0, imm)
    }

    pub const fn mov64_reg(dst: u8, src: u8) -> Insn {
        Insn::alu64_reg(op::MOV, dst, src)
    }

    pub const fn mov64_imm(dst: u8, imm: i32) -> Insn {
        Insn::alu64_imm(op::MOV, dst, imm)
    }

    /// Both halves of `dst = imm ll`.
    pub const fn ld_imm64(dst: u8, imm: u64) -> [Insn; 2] {
        [
            Insn::new(op::LD | op::DW | op::IMM, dst, 0, 0, imm as u32 as i32),
            Insn::new(0, 0, 0, 0, (imm >> 32) as u32 as i32),
        ]
    }

    /// Both halves of `dst = map[fd] ll`; the loader puts the map's fd in `imm`.
    pub const fn ld_map_fd(dst: u8, fd: i32) -> [Insn; 2] {
        [
            Insn::new(op::LD | op::DW | op::IMM, dst, op::PSEUDO_MAP_FD, 0, fd),
            Insn::new(0, 0, 0, 0, 0),
        ]
    }

    /// `dst = *(size *)(src + off)` (`size` is one of `op::B`..`op::DW`).
    pub const fn load(size: u8, dst: u8, src: u8, off: i16) -> Insn {
        Insn::new(op::LDX | size | op::MEM, dst, src, off, 0)
    }

    /// `*(size *)(dst + off) = src`.
    pub const fn store(size: u8, dst: u8, off: i16, src: u8) -> Insn {
        Insn::new(op::STX | size | op::MEM, dst, src, off, 0)
    }

    /// `*(size *)(dst + off) = imm`.
    pub const fn store_imm(size: u8, dst: u8, off: i16, imm: i32) -> Insn {
        Insn::new(op::ST | size | op::MEM, dst, 0, off, imm)
    }

    /// `lock *(size *)(dst + off) += src` (size `op::W` or `op::DW`); with `fetch`, `src`
    /// receives the old value.
    pub const fn atomic_add(size: u8, dst: u8, off: i16, src: u8, fetch: bool) -> Insn {
        let imm = op::ADD as i32 | if fetch { op::FETCH } else { 0 };
        Insn::new(op::STX | size | op::ATOMIC, dst, src, off, imm)
    }

    /// `if dst op src goto off` on 64 bits (`op` is one of `op::JEQ`..`op::JSLE`).
    pub const fn jmp_reg(operation: u8, dst: u8, src: u8, off: i16) -> Insn {
        Insn::new(op::JMP | operation | op::X, dst, src, off, 0)
    }

    /// `if dst op imm goto off` on 64 bits.
    pub const fn jmp_imm(operation: u8, dst: u8, imm: i32, off: i16) -> Insn {
        Insn::new(op::JMP | operation | op::K, dst, 0, off, imm)
    }

    /// `goto off`.
    pub const fn ja(off: i16) -> Insn {
        Insn::new(op::JMP | op::JA, 0, 0, off, 0)
    }

    /// `call helper`.
    pub const fn call(helper: i32) -> Insn {
        Insn::new(op::JMP | op::CALL, 0, 0, 0, helper)
    }

    pub const fn exit() -> Insn {
        Insn::new(op::JMP | op::EXIT, 0, 0, 0, 0)
    }

    /// Both halves of `dst = &callback ll`; the loader puts the offset in `imm`.
    pub const fn ld_func(dst: u8) -> [Insn; 2] {
        [
            Insn::new(op::LD | op::DW | op::IMM, dst, op::PSEUDO_FUNC, 0, 0),
            Insn::new(0, 0, 0, 0, 0),
        ]
    }

    /// Whether this is the first half of an `ld_imm64`.
    pub const fn is_ld_imm64(&self) -> bool {
        self.code == op::LD | op::DW | op::IMM
    }
}
