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
    result
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
