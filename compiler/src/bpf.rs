//! rbt's own eBPF backend: optimized cranelift IR in, eBPF instructions out.
//!
//! Contract with `lower` (which builds the IR): see ARCHITECTURE.md, "The CLIF subset".

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

/// A compiled eBPF program: its instructions and the map references among them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Program {
    pub insns: Vec<Insn>,
    pub relocs: Vec<MapReloc>,
}
