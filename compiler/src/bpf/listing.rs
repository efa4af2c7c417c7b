//! A readable listing of eBPF instructions, in the kernel's and bpftool's style.

use super::{Insn, Program, op};
use std::fmt::Write;

/// A readable listing, one instruction per line: `r1 = *(u64 *)(r6 + 8)`,
/// `if r0 == 0 goto +5`, `call 1`, `r1 = map[@name] ll`, `r2 = callback[0] ll`. `map_name`
/// names a map index.
pub fn listing(program: &Program, map_name: &dyn Fn(u32) -> String) -> String {
    let mut text = String::new();
    let mut index = 0;
    while index < program.insns.len() {
        let insn = &program.insns[index];
        let line = if insn.is_ld_imm64() {
            let high = program.insns.get(index + 1).map_or(0, |next| next.imm);
            let map = program.relocs.iter().find(|reloc| reloc.insn == index);
            let func = program.funcs.iter().find(|reloc| reloc.insn == index);
            let line = match (map, func) {
                (Some(reloc), _) => format!("r{} = map[{}] ll", insn.dst, map_name(reloc.map)),
                (None, Some(reloc)) => format!("r{} = callback[{}] ll", insn.dst, reloc.callback),
                _ if insn.src == op::PSEUDO_MAP_FD => {
                    format!("r{} = map_fd[{}] ll", insn.dst, insn.imm)
                }
                _ => {
                    let value = (insn.imm as u32 as u64) | ((high as u32 as u64) << 32);
                    format!("r{} = {:#x} ll", insn.dst, value)
                }
            };
            let _ = writeln!(text, "{index:4}: {line}");
            index += 2;
            continue;
        } else {
            insn_text(insn)
        };
        let _ = writeln!(text, "{index:4}: {line}");
        index += 1;
    }
    text
}

fn size_name(code: u8) -> &'static str {
    match code & 0x18 {
        op::B => "u8",
        op::H => "u16",
        op::W => "u32",
        _ => "u64",
    }
}

fn address(reg: u8, off: i16) -> String {
    if off < 0 {
        format!("r{reg} - {}", -(off as i32))
    } else {
        format!("r{reg} + {off}")
    }
}

fn alu_symbol(operation: u8) -> &'static str {
    match operation {
        op::ADD => "+=",
        op::SUB => "-=",
        op::MUL => "*=",
        op::DIV => "/=",
        op::OR => "|=",
        op::AND => "&=",
        op::LSH => "<<=",
        op::RSH => ">>=",
        op::MOD => "%=",
        op::XOR => "^=",
        op::MOV => "=",
        op::ARSH => "s>>=",
        _ => "?=",
    }
}

fn jump_symbol(operation: u8) -> &'static str {
    match operation {
        op::JEQ => "==",
        op::JGT => ">",
        op::JGE => ">=",
        op::JSET => "&",
        op::JNE => "!=",
        op::JSGT => "s>",
        op::JSGE => "s>=",
        op::JLT => "<",
        op::JLE => "<=",
        op::JSLT => "s<",
        op::JSLE => "s<=",
        _ => "?",
    }
}

/// One instruction (not an `ld_imm64`) as text.
fn insn_text(insn: &Insn) -> String {
    let class = insn.code & 0x07;
    let operation = insn.code & 0xf0;
    let uses_reg = insn.code & op::X != 0;
    match class {
        op::ALU | op::ALU64 => {
            let prefix = if class == op::ALU64 { 'r' } else { 'w' };
            if operation == op::NEG {
                return format!("{prefix}{0} = -{prefix}{0}", insn.dst);
            }
            let rhs = if uses_reg {
                format!("{prefix}{}", insn.src)
            } else {
                insn.imm.to_string()
            };
            format!("{prefix}{} {} {rhs}", insn.dst, alu_symbol(operation))
        }
        op::LDX => format!(
            "r{} = *({} *)({})",
            insn.dst,
            size_name(insn.code),
            address(insn.src, insn.off)
        ),
        op::ST => format!(
            "*({} *)({}) = {}",
            size_name(insn.code),
            address(insn.dst, insn.off),
            insn.imm
        ),
        op::STX if insn.code & 0xe0 == op::ATOMIC => {
            let target = format!(
                "({} *)({})",
                size_name(insn.code),
                address(insn.dst, insn.off)
            );
            let prefix = if insn.code & 0x18 == op::DW { 'r' } else { 'w' };
            if insn.imm & op::FETCH != 0 {
                format!(
                    "{prefix}{0} = atomic_fetch_add({target}, {prefix}{0})",
                    insn.src
                )
            } else {
                format!("lock *{target} += {prefix}{}", insn.src)
            }
        }
        op::STX => format!(
            "*({} *)({}) = r{}",
            size_name(insn.code),
            address(insn.dst, insn.off),
            insn.src
        ),
        op::JMP | op::JMP32 => match operation {
            op::JA => format!("goto {:+}", insn.off),
            op::CALL => format!("call {}", insn.imm),
            op::EXIT => "exit".to_string(),
            _ => {
                let prefix = if class == op::JMP { 'r' } else { 'w' };
                let rhs = if uses_reg {
                    format!("{prefix}{}", insn.src)
                } else {
                    insn.imm.to_string()
                };
                format!(
                    "if {prefix}{} {} {rhs} goto {:+}",
                    insn.dst,
                    jump_symbol(operation),
                    insn.off
                )
            }
        },
        _ => format!("<unknown opcode {:#04x}>", insn.code),
    }
}
