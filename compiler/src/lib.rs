//! rbt's compiler: source text in; an eBPF ELF object, its tables and diagnostics out.
//! It does no I/O: kernel facts arrive through the `Kernel` trait.

pub mod bpf;
pub mod ast;
pub mod diag;
pub mod opt;
