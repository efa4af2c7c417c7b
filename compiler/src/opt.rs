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
    let mut context = Context::for_function(std::mem::replace(func, Function::new()));
    let result = run_passes(&mut context, &flags);
    *func = context.func;
    if result.is_ok() {
        expand_umulhi(func);
    }
    result
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
