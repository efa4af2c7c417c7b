//! The optimizer driver: cranelift's target-independent passes, run without a target ISA.

use cranelift_codegen::Context;
use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::Function;
use cranelift_codegen::settings::{self, Configurable};

/// Runs cranelift's target-independent optimizations on `func`, the same passes as
/// `Context::optimize` (verify, unreachable-code removal, constant phis, aliases, egraph).
/// An error is a bug in the IR that `lower` built; its text is the verifier's.
pub fn optimize(func: &mut Function) -> Result<(), String> {
    let flags = optimizer_flags();
    hide_constant_divisors(func);
    let mut context = Context::for_function(std::mem::replace(func, Function::new()));
    let result = run_passes(&mut context, &flags);
    *func = context.func;
    if result.is_ok() {
        restore_constant_divisors(func);
        expand_umulhi(func);
    }
    result
}

/// The namespace of the stand-in calls that keep divisions by constants away from the
/// optimizer: index 0 stands for `udiv`, 1 for `urem`.
const DIVISION_NAMESPACE: u32 = 2;

/// BPF divides by an immediate in one instruction, but cranelift rewrites a division by a
/// constant into a multiply-high sequence. Before optimizing, such divisions become calls,
/// which the optimizer leaves alone; `restore_constant_divisors` turns them back.
fn hide_constant_divisors(func: &mut Function) {
    use cranelift_codegen::cursor::{Cursor, FuncCursor};
    use cranelift_codegen::ir::{
        AbiParam, ExtFuncData, ExternalName, InstBuilder, Opcode, Signature, UserExternalName,
    };

    let mut pos = FuncCursor::new(func);
    while let Some(_block) = pos.next_block() {
        while let Some(inst) = pos.next_inst() {
            let opcode = pos.func.dfg.insts[inst].opcode();
            if !matches!(opcode, Opcode::Udiv | Opcode::Urem) {
                continue;
            }
            let [x, d] = *pos.func.dfg.inst_args(inst) else {
                panic!("bug: division without two arguments")
            };
            let divisor_is_constant = pos
                .func
                .dfg
                .value_def(d)
                .inst()
                .is_some_and(|i| pos.func.dfg.insts[i].opcode() == Opcode::Iconst);
            if !divisor_is_constant {
                continue;
            }
            let ty = pos.func.dfg.value_type(x);
            let mut sig = Signature::new(cranelift_codegen::isa::CallConv::SystemV);
            sig.params.extend([AbiParam::new(ty), AbiParam::new(ty)]);
            sig.returns.push(AbiParam::new(ty));
            let sig = pos.func.import_signature(sig);
            let index = u32::from(opcode == Opcode::Urem);
            let name = pos.func.declare_imported_user_function(UserExternalName {
                namespace: DIVISION_NAMESPACE,
                index,
            });
            let callee = pos.func.import_function(ExtFuncData {
                name: ExternalName::User(name),
                signature: sig,
                colocated: true,
                patchable: false,
            });
            pos.func.replace(inst).call(callee, &[x, d]);
        }
    }
}

fn restore_constant_divisors(func: &mut Function) {
    use cranelift_codegen::cursor::{Cursor, FuncCursor};
    use cranelift_codegen::ir::{ExternalName, InstBuilder, InstructionData};

    let mut pos = FuncCursor::new(func);
    while let Some(_block) = pos.next_block() {
        while let Some(inst) = pos.next_inst() {
            let InstructionData::Call { func_ref, .. } = pos.func.dfg.insts[inst] else {
                continue;
            };
            let ExternalName::User(name) = pos.func.dfg.ext_funcs[func_ref].name else {
                continue;
            };
            let name = &pos.func.params.user_named_funcs()[name];
            if name.namespace != DIVISION_NAMESPACE {
                continue;
            }
            let urem = name.index == 1;
            let [x, d] = *pos.func.dfg.inst_args(inst) else {
                panic!("bug: stand-in division without two arguments")
            };
            if urem {
                pos.func.replace(inst).urem(x, d);
            } else {
                pos.func.replace(inst).udiv(x, d);
            }
        }
    }
}

/// The optimizer turns division by a constant into a multiplication by a magic number and
/// takes the high half (`umulhi`), which BPF has no instruction for: expand it into 32-bit
/// partial products, still cheaper than BPF's 64-bit division.
fn expand_umulhi(func: &mut Function) {
    use cranelift_codegen::cursor::{Cursor, FuncCursor};
    use cranelift_codegen::ir::{InstBuilder, Opcode, types};

    let mut pos = FuncCursor::new(func);
    while let Some(_block) = pos.next_block() {
        while let Some(inst) = pos.next_inst() {
            if pos.func.dfg.insts[inst].opcode() != Opcode::Umulhi {
                continue;
            }
            let [x, y] = pos.func.dfg.inst_args(inst) else {
                panic!("bug: umulhi without two arguments")
            };
            let (x, y) = (*x, *y);
            let ty = pos.func.dfg.value_type(x);
            if ty == types::I64 {
                let x_lo = pos.ins().band_imm_u(x, 0xffff_ffff);
                let x_hi = pos.ins().ushr_imm_u(x, 32);
                let y_lo = pos.ins().band_imm_u(y, 0xffff_ffff);
                let y_hi = pos.ins().ushr_imm_u(y, 32);
                let lo_lo = pos.ins().imul(x_lo, y_lo);
                let lo_hi = pos.ins().imul(x_lo, y_hi);
                let hi_lo = pos.ins().imul(x_hi, y_lo);
                let hi_hi = pos.ins().imul(x_hi, y_hi);
                // The middle column: carries out of the low 64 bits.
                let carry = pos.ins().ushr_imm_u(lo_lo, 32);
                let a = pos.ins().band_imm_u(lo_hi, 0xffff_ffff);
                let b = pos.ins().band_imm_u(hi_lo, 0xffff_ffff);
                let mid = pos.ins().iadd(carry, a);
                let mid = pos.ins().iadd(mid, b);
                let mid_hi = pos.ins().ushr_imm_u(mid, 32);
                let lo_hi_hi = pos.ins().ushr_imm_u(lo_hi, 32);
                let hi_lo_hi = pos.ins().ushr_imm_u(hi_lo, 32);
                let sum = pos.ins().iadd(hi_hi, lo_hi_hi);
                let sum = pos.ins().iadd(sum, hi_lo_hi);
                pos.func.replace(inst).iadd(sum, mid_hi);
            } else {
                let wide_x = pos.ins().uextend(types::I64, x);
                let wide_y = pos.ins().uextend(types::I64, y);
                let product = pos.ins().imul(wide_x, wide_y);
                let high = pos.ins().ushr_imm_u(product, i64::from(ty.bits()));
                pos.func.replace(inst).ireduce(ty, high);
            }
        }
    }
}

fn run_passes(context: &mut Context, flags: &settings::Flags) -> Result<(), String> {
    let text = |error: cranelift_codegen::CodegenError| error.to_string();
    if let Err(errors) = cranelift_codegen::verify_function(&context.func, flags) {
        return Err(cranelift_codegen::print_errors::pretty_verifier_error(
            &context.func,
            None,
            errors,
        ));
    }
    context.compute_cfg();
    context.compute_domtree();
    context.eliminate_unreachable_code(flags).map_err(text)?;
    context.remove_constant_phis(flags).map_err(text)?;
    context.func.dfg.resolve_all_aliases();
    context
        .egraph_pass(flags, &mut ControlPlane::default())
        .map_err(text)?;
    Ok(())
}

fn optimizer_flags() -> settings::Flags {
    let mut builder = settings::builder();
    builder
        .set("opt_level", "speed")
        .unwrap_or_else(|error| panic!("bug: opt_level setting: {error}"));
    builder
        .set("enable_verifier", "true")
        .unwrap_or_else(|error| panic!("bug: enable_verifier setting: {error}"));
    settings::Flags::new(builder)
}
