//! Backend tests: functions built with cranelift-frontend as `lower` builds them, optimized,
//! compiled, checked as listings and (as root) loaded into the kernel and run.

mod kernel;

use super::{Error, Program, compile, listing};
use crate::opt::optimize;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::immediates::Imm64;
use cranelift_codegen::ir::{
    AbiParam, ExtFuncData, ExternalName, FuncRef, Function, GlobalValue, GlobalValueData,
    InstBuilder, MemFlagsData, Signature, StackSlotData, StackSlotKind, UserExternalName,
    UserFuncName, Value, types,
};
use cranelift_codegen::isa::{CallConv, TargetFrontendConfig};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use kernel::{Fd, is_root};

const I64: types::Type = types::I64;

fn frontend_config() -> TargetFrontendConfig {
    // Any 64-bit target gives the same frontend configuration; x86_64 is the one built in.
    cranelift_codegen::isa::lookup_by_name("x86_64")
        .unwrap()
        .finish(cranelift_codegen::settings::Flags::new(
            cranelift_codegen::settings::builder(),
        ))
        .unwrap()
        .frontend_config()
}

fn signature(params: usize) -> Signature {
    let mut signature = Signature::new(CallConv::SystemV);
    signature
        .params
        .extend((0..params).map(|_| AbiParam::new(I64)));
    signature.returns.push(AbiParam::new(I64));
    signature
}

fn helper(builder: &mut FunctionBuilder, id: u32, params: usize) -> FuncRef {
    let name = builder
        .func
        .declare_imported_user_function(UserExternalName::new(0, id));
    let signature = builder.import_signature(signature(params));
    builder.import_function(ExtFuncData {
        name: ExternalName::User(name),
        signature,
        colocated: false,
        patchable: false,
    })
}

fn map(builder: &mut FunctionBuilder, index: u32) -> GlobalValue {
    let name = builder
        .func
        .declare_imported_user_function(UserExternalName::new(1, index));
    builder.create_global_value(GlobalValueData::Symbol {
        name: ExternalName::User(name),
        offset: Imm64::new(0),
        colocated: false,
        tls: false,
    })
}

fn call(builder: &mut FunctionBuilder, helper: FuncRef, args: &[Value]) -> Value {
    let inst = builder.ins().call(helper, args);
    builder.inst_results(inst)[0]
}

/// A `(i64 ctx) -> i64` function whose entry block `body` fills (it must end every path).
fn function(body: impl FnOnce(&mut FunctionBuilder, Value)) -> Function {
    let mut func = Function::with_name_signature(UserFuncName::user(0, 0), signature(1));
    let mut context = FunctionBuilderContext::new();
    let mut builder = FunctionBuilder::new(&mut func, &mut context);
    let entry = builder.create_block();
    builder.append_block_params_for_function_params(entry);
    builder.switch_to_block(entry);
    let ctx = builder.block_params(entry)[0];
    body(&mut builder, ctx);
    builder.seal_all_blocks();
    builder.finalize(frontend_config());
    func
}

fn compiled(mut func: Function) -> Program {
    optimize(&mut func).unwrap_or_else(|error| panic!("optimize: {error}\n{}", func.display()));
    let first = compile(&func).unwrap();
    assert_eq!(
        first,
        compile(&func).unwrap(),
        "compilation is not deterministic"
    );
    first
}

fn text(program: &Program) -> String {
    listing(program, &|map| format!("@m{map}"))
}

fn trusted(_builder: &mut FunctionBuilder) -> MemFlagsData {
    MemFlagsData::trusted()
}

fn load_arg(builder: &mut FunctionBuilder, ctx: Value, index: i32) -> Value {
    let flags = trusted(builder);
    builder.ins().load(I64, flags, ctx, index * 8)
}

/// Loads `program` as a raw tracepoint, or panics with the listing and the verifier log.
fn load_raw(program: &Program, maps: &[&Fd]) -> Fd {
    kernel::load(program, kernel::PROG_TYPE_RAW_TRACEPOINT, maps)
        .unwrap_or_else(|log| panic!("verifier refused:\n{}\n{log}", text(program)))
}

/// Builds `ctx -> expr(arg0, arg1)`, runs it in the kernel on each case and compares the
/// (32-bit) return value with `expected`.
fn check_binary(
    expr: impl Fn(&mut FunctionBuilder, Value, Value) -> Value,
    expected: impl Fn(u64, u64) -> u64,
) {
    let func = function(|builder, ctx| {
        let a = load_arg(builder, ctx, 0);
        let b = load_arg(builder, ctx, 1);
        let mut result = expr(builder, a, b);
        if builder.func.dfg.value_type(result) != I64 {
            result = builder.ins().uextend(I64, result);
        }
        builder.ins().return_(&[result]);
    });
    let program = compiled(func);
    if !is_root() {
        return;
    }
    let fd = load_raw(&program, &[]);
    let cases = [
        (0, 0),
        (1, 2),
        (7, 3),
        (100, 7),
        (u64::MAX, 1),
        (0x8000_0000, 0xffff_ffff),
        (0x1_0000_00ff, 0x80),
        (5, u64::MAX - 4),
        (0xfe, 0x03),
    ];
    for (a, b) in cases {
        let got = kernel::run(&fd, &[a, b]);
        assert_eq!(
            got,
            expected(a, b) as u32,
            "a={a:#x} b={b:#x}\n{}",
            text(&program)
        );
    }
}

#[test]
fn listing_of_a_context_load() {
    let program = compiled(function(|builder, ctx| {
        let a = load_arg(builder, ctx, 1);
        let one = builder.ins().iconst(I64, 1);
        let sum = builder.ins().iadd(a, one);
        builder.ins().return_(&[sum]);
    }));
    assert_eq!(
        text(&program),
        "   0: r0 = *(u64 *)(r1 + 8)\n   1: r0 += 1\n   2: exit\n"
    );
}

#[test]
fn arithmetic_64() {
    check_binary(
        |b, x, y| {
            let sum = b.ins().iadd(x, y);
            let three = b.ins().iconst(I64, 3);
            let product = b.ins().imul(sum, three);
            let quotient = b.ins().udiv(x, y);
            let remainder = b.ins().urem(x, y);
            let difference = b.ins().isub(product, quotient);
            let mixed = b.ins().bxor(difference, remainder);
            let shifted = b.ins().ushr_imm_s(mixed, 3);
            let negated = b.ins().ineg(shifted);
            let masked = b.ins().band_imm_s(negated, 0xffff_ff0f);
            b.ins().bor(masked, remainder)
        },
        |x, y| {
            let quotient = x.checked_div(y).unwrap_or(0);
            let remainder = x.checked_rem(y).unwrap_or(x);
            let mixed = (x.wrapping_add(y).wrapping_mul(3).wrapping_sub(quotient)) ^ remainder;
            ((mixed >> 3).wrapping_neg() & 0xffff_ff0f) | remainder
        },
    );
}

#[test]
fn shifts_and_signed_64() {
    check_binary(
        |b, x, y| {
            let left = b.ins().ishl(x, y);
            let arith = b.ins().sshr(x, y);
            let logical = b.ins().ushr(y, x);
            let not = b.ins().bnot(logical);
            let first = b.ins().bxor(left, arith);
            b.ins().iadd(first, not)
        },
        |x, y| {
            let left = x << (y & 63);
            let arith = ((x as i64) >> (y & 63)) as u64;
            let logical = y >> (x & 63);
            (left ^ arith).wrapping_add(!logical)
        },
    );
}

#[test]
fn comparisons() {
    let ccs = [
        IntCC::Equal,
        IntCC::NotEqual,
        IntCC::UnsignedLessThan,
        IntCC::UnsignedGreaterThanOrEqual,
        IntCC::SignedLessThan,
        IntCC::SignedGreaterThan,
        IntCC::SignedLessThanOrEqual,
        IntCC::UnsignedLessThanOrEqual,
    ];
    for cc in ccs {
        let eval = move |x: u64, y: u64| -> bool {
            match cc {
                IntCC::Equal => x == y,
                IntCC::NotEqual => x != y,
                IntCC::UnsignedLessThan => x < y,
                IntCC::UnsignedGreaterThanOrEqual => x >= y,
                IntCC::SignedLessThan => (x as i64) < (y as i64),
                IntCC::SignedGreaterThan => (x as i64) > (y as i64),
                IntCC::SignedLessThanOrEqual => (x as i64) <= (y as i64),
                _ => x <= y,
            }
        };
        // 64-bit: materialized, selected, and against an immediate.
        check_binary(
            move |b, x, y| {
                let flag = b.ins().icmp(cc, x, y);
                let wide_flag = b.ins().uextend(I64, flag);
                let picked = b.ins().select(flag, x, y);
                let against_imm = b.ins().icmp_imm_s(cc, x, 7);
                let imm_flag = b.ins().uextend(I64, against_imm);
                let shifted = b.ins().ishl_imm_s(imm_flag, 1);
                let flags = b.ins().bor(wide_flag, shifted);
                let scaled = b.ins().imul_imm_s(picked, 4);
                b.ins().iadd(scaled, flags)
            },
            move |x, y| {
                let picked = if eval(x, y) { x } else { y };
                picked
                    .wrapping_mul(4)
                    .wrapping_add(eval(x, y) as u64 | ((eval(x, 7) as u64) << 1))
            },
        );
        // 32-bit and 8-bit versions of the same comparison.
        for (ty, bits) in [(types::I32, 32u32), (types::I8, 8)] {
            let narrow = move |value: u64| -> u64 {
                let shift = 64 - bits;
                ((value << shift) as i64 >> shift) as u64
            };
            let unsigned = move |value: u64| value & (u64::MAX >> (64 - bits));
            check_binary(
                move |b, x, y| {
                    let x = b.ins().ireduce(ty, x);
                    let y = b.ins().ireduce(ty, y);
                    let flag = b.ins().icmp(cc, x, y);
                    b.ins().uextend(I64, flag)
                },
                move |x, y| {
                    let (x, y) = match cc {
                        IntCC::SignedLessThan
                        | IntCC::SignedGreaterThan
                        | IntCC::SignedLessThanOrEqual => (narrow(x), narrow(y)),
                        _ => (unsigned(x), unsigned(y)),
                    };
                    eval(x, y) as u64
                },
            );
        }
    }
}

#[test]
fn narrow_arithmetic_wraps_and_extends() {
    check_binary(
        |b, x, y| {
            let x8 = b.ins().ireduce(types::I8, x);
            let y8 = b.ins().ireduce(types::I8, y);
            let sum8 = b.ins().iadd(x8, y8);
            let sum = b.ins().uextend(I64, sum8);
            let x32 = b.ins().ireduce(types::I32, x);
            let y32 = b.ins().ireduce(types::I32, y);
            let product32 = b.ins().imul(x32, y32);
            let signed = b.ins().sextend(I64, product32);
            let high = b.ins().ushr_imm_s(signed, 32);
            let signed8 = b.ins().sextend(I64, x8);
            let shifted8 = b.ins().sshr_imm_s(x8, 2);
            let shifted = b.ins().uextend(I64, shifted8);
            let total = b.ins().iadd(sum, high);
            let total = b.ins().bxor(total, signed8);
            b.ins().iadd(total, shifted)
        },
        |x, y| {
            let sum = (x as u8).wrapping_add(y as u8) as u64;
            let product = (x as u32).wrapping_mul(y as u32) as i32 as i64 as u64;
            let high = product >> 32;
            let signed8 = x as u8 as i8 as i64 as u64;
            let shifted = (((x as u8 as i8) >> 2) as u8) as u64;
            ((sum.wrapping_add(high)) ^ signed8).wrapping_add(shifted)
        },
    );
}

#[test]
fn rotates_and_masks() {
    check_binary(
        |b, x, y| {
            let seven = b.ins().iconst(I64, 7);
            let left = b.ins().rotl(x, seven);
            let x32 = b.ins().ireduce(types::I32, x);
            let five = b.ins().iconst(types::I32, 5);
            let right32 = b.ins().rotr(x32, five);
            let right = b.ins().uextend(I64, right32);
            let mask = b.ins().bmask(I64, y);
            let y8 = b.ins().ireduce(types::I8, y);
            let mask8 = b.ins().bmask(types::I8, y8);
            let mask8 = b.ins().uextend(I64, mask8);
            let rotated = b.ins().bxor(left, right);
            let masked = b.ins().band(rotated, mask);
            b.ins().iadd(masked, mask8)
        },
        |x, y| {
            let rotated = x.rotate_left(7) ^ ((x as u32).rotate_right(5) as u64);
            let mask = if y != 0 { u64::MAX } else { 0 };
            let mask8 = if y as u8 != 0 { 0xff } else { 0 };
            (rotated & mask).wrapping_add(mask8)
        },
    );
}

#[test]
fn diamond_with_block_params() {
    let func = function(|builder, ctx| {
        let a = load_arg(builder, ctx, 0);
        let b = load_arg(builder, ctx, 1);
        let then_block = builder.create_block();
        let else_block = builder.create_block();
        let join = builder.create_block();
        builder.append_block_param(join, I64);
        let bigger = builder.ins().icmp(IntCC::UnsignedGreaterThan, a, b);
        builder.ins().brif(bigger, then_block, &[], else_block, &[]);
        builder.switch_to_block(then_block);
        let difference = builder.ins().isub(a, b);
        builder.ins().jump(join, &[difference.into()]);
        builder.switch_to_block(else_block);
        let double = builder.ins().imul_imm_s(b, 2);
        builder.ins().jump(join, &[double.into()]);
        builder.switch_to_block(join);
        let x = builder.block_params(join)[0];
        let result = builder.ins().iadd_imm_s(x, 1);
        builder.ins().return_(&[result]);
    });
    let program = compiled(func);
    if !is_root() {
        return;
    }
    let fd = load_raw(&program, &[]);
    assert_eq!(kernel::run(&fd, &[10, 3]), 8);
    assert_eq!(kernel::run(&fd, &[3, 10]), 21);
    assert_eq!(kernel::run(&fd, &[5, 5]), 11);
}

#[test]
fn values_live_across_helper_calls_and_spills() {
    const KTIME_GET_NS: u32 = 5;
    const GET_SMP_PROCESSOR_ID: u32 = 8;
    let func = function(|builder, ctx| {
        let ktime = helper(builder, KTIME_GET_NS, 0);
        let cpu = helper(builder, GET_SMP_PROCESSOR_ID, 0);
        let args: Vec<Value> = (0..8).map(|index| load_arg(builder, ctx, index)).collect();
        let before = call(builder, ktime, &[]);
        let _ = call(builder, cpu, &[]);
        let after = call(builder, ktime, &[]);
        let ordered = builder
            .ins()
            .icmp(IntCC::UnsignedGreaterThanOrEqual, after, before);
        let mut total = builder.ins().uextend(I64, ordered);
        for (index, arg) in args.iter().enumerate() {
            let scaled = builder.ins().imul_imm_s(*arg, index as i64 + 1);
            total = builder.ins().iadd(total, scaled);
        }
        builder.ins().return_(&[total]);
    });
    let program = compiled(func);
    if !is_root() {
        return;
    }
    let fd = load_raw(&program, &[]);
    let args: Vec<u64> = (0..8).map(|index| 3 + index * 10).collect();
    let expected: u64 = 1 + args
        .iter()
        .enumerate()
        .map(|(i, a)| a * (i as u64 + 1))
        .sum::<u64>();
    assert_eq!(
        kernel::run(&fd, &args) as u64,
        expected,
        "\n{}",
        text(&program)
    );
}

#[test]
fn many_live_values_force_spills() {
    let func = function(|builder, ctx| {
        let args: Vec<Value> = (0..12).map(|index| load_arg(builder, ctx, index)).collect();
        // Every product needs every argument still alive: more values than registers.
        let products: Vec<Value> = (0..12)
            .map(|index| builder.ins().imul(args[index], args[(index + 5) % 12]))
            .collect();
        let mut total = builder.ins().iconst(I64, 0);
        for (index, product) in products.iter().enumerate() {
            let mixed = builder.ins().bxor(*product, args[(index + 7) % 12]);
            total = builder.ins().iadd(total, mixed);
        }
        builder.ins().return_(&[total]);
    });
    let program = compiled(func);
    assert!(
        text(&program).contains("(r10 - "),
        "expected spills:\n{}",
        text(&program)
    );
    if !is_root() {
        return;
    }
    let fd = load_raw(&program, &[]);
    let args: Vec<u64> = (0..12).map(|index| 1000 + index * 37).collect();
    let expected = (0..12).fold(0u64, |total, index| {
        total.wrapping_add((args[index] * args[(index + 5) % 12]) ^ args[(index + 7) % 12])
    });
    assert_eq!(
        kernel::run(&fd, &args),
        expected as u32,
        "\n{}",
        text(&program)
    );
}

const MAP_LOOKUP_ELEM: u32 = 1;
const MAP_UPDATE_ELEM: u32 = 2;
const GET_CURRENT_COMM: u32 = 16;

fn stack_slot(builder: &mut FunctionBuilder, bytes: u32) -> cranelift_codegen::ir::StackSlot {
    builder.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, bytes, 3))
}

#[test]
fn per_cpu_array_counter() {
    let func = function(|builder, _ctx| {
        let lookup = helper(builder, MAP_LOOKUP_ELEM, 2);
        let counts = map(builder, 0);
        let key = stack_slot(builder, 4);
        let zero = builder.ins().iconst(types::I32, 0);
        builder.ins().stack_store(I64, zero, key, 0);
        let map_address = builder.ins().symbol_value(I64, counts);
        let key_address = builder.ins().stack_addr(I64, key, 0);
        let value = call(builder, lookup, &[map_address, key_address]);
        let hit = builder.create_block();
        let done = builder.create_block();
        builder.ins().brif(value, hit, &[], done, &[]);
        builder.switch_to_block(hit);
        let flags = trusted(builder);
        let count = builder.ins().load(I64, flags, value, 0);
        let count = builder.ins().iadd_imm_s(count, 1);
        let flags = trusted(builder);
        builder.ins().store(flags, count, value, 0);
        builder.ins().jump(done, &[]);
        builder.switch_to_block(done);
        let zero = builder.ins().iconst(I64, 0);
        builder.ins().return_(&[zero]);
    });
    let program = compiled(func);
    let listing = text(&program);
    assert!(listing.contains("r1 = map[@m0] ll"), "{listing}");
    assert!(listing.contains("call 1"), "{listing}");
    assert!(listing.contains("if r0 == 0 goto"), "{listing}");
    if !is_root() {
        return;
    }
    let counts = kernel::create_map(kernel::MAP_TYPE_PERCPU_ARRAY, 4, 8, 1);
    let fd = load_raw(&program, &[&counts]);
    for _ in 0..5 {
        assert_eq!(kernel::run(&fd, &[0]), 0);
    }
    let values = kernel::lookup(&counts, &0u32.to_le_bytes(), 8 * 1024).unwrap();
    let total: u64 = values
        .chunks(8)
        .map(|chunk| u64::from_le_bytes(chunk.try_into().unwrap()))
        .sum();
    assert_eq!(total, 5, "\n{listing}");
}

#[test]
fn hash_keyed_by_comm() {
    let func = function(|builder, _ctx| {
        let lookup = helper(builder, MAP_LOOKUP_ELEM, 2);
        let update = helper(builder, MAP_UPDATE_ELEM, 4);
        let get_comm = helper(builder, GET_CURRENT_COMM, 2);
        let counts = map(builder, 0);
        let comm = stack_slot(builder, 16);
        let initial = stack_slot(builder, 8);
        let comm_address = builder.ins().stack_addr(I64, comm, 0);
        let size = builder.ins().iconst(I64, 16);
        call(builder, get_comm, &[comm_address, size]);
        let map_address = builder.ins().symbol_value(I64, counts);
        let comm_address = builder.ins().stack_addr(I64, comm, 0);
        let value = call(builder, lookup, &[map_address, comm_address]);
        let hit = builder.create_block();
        let miss = builder.create_block();
        let done = builder.create_block();
        let is_null = builder.ins().icmp_imm_s(IntCC::Equal, value, 0);
        builder.ins().brif(is_null, miss, &[], hit, &[]);
        builder.switch_to_block(hit);
        let one = builder.ins().iconst(I64, 1);
        let flags = trusted(builder);
        builder.ins().atomic_rmw(
            I64,
            flags,
            cranelift_codegen::ir::AtomicRmwOp::Add,
            value,
            one,
        );
        builder.ins().jump(done, &[]);
        builder.switch_to_block(miss);
        let one = builder.ins().iconst(I64, 1);
        builder.ins().stack_store(I64, one, initial, 0);
        let map_address = builder.ins().symbol_value(I64, counts);
        let comm_address = builder.ins().stack_addr(I64, comm, 0);
        let initial_address = builder.ins().stack_addr(I64, initial, 0);
        let flags = builder.ins().iconst(I64, 0);
        call(
            builder,
            update,
            &[map_address, comm_address, initial_address, flags],
        );
        builder.ins().jump(done, &[]);
        builder.switch_to_block(done);
        let zero = builder.ins().iconst(I64, 0);
        builder.ins().return_(&[zero]);
    });
    let program = compiled(func);
    let listing = text(&program);
    assert!(listing.contains("lock *(u64 *)(r0 + 0) += r1"), "{listing}");
    if !is_root() {
        return;
    }
    let counts = kernel::create_map(kernel::MAP_TYPE_HASH, 16, 8, 64);
    kernel::load(&program, kernel::PROG_TYPE_TRACEPOINT, &[&counts])
        .unwrap_or_else(|log| panic!("tracepoint refused:\n{listing}\n{log}"));
    let fd = load_raw(&program, &[&counts]);
    for _ in 0..3 {
        kernel::run(&fd, &[0]);
    }
    let name = std::fs::read_to_string("/proc/thread-self/comm").unwrap();
    let mut key = [0u8; 16];
    let name = name.trim_end_matches('\n').as_bytes();
    key[..name.len().min(15)].copy_from_slice(&name[..name.len().min(15)]);
    let value = kernel::lookup(&counts, &key, 8).unwrap_or_else(|| panic!("no entry for {name:?}"));
    assert_eq!(
        u64::from_le_bytes(value.try_into().unwrap()),
        3,
        "\n{listing}"
    );
}

#[test]
fn too_much_stack_is_an_error() {
    let mut func = function(|builder, _ctx| {
        let big = stack_slot(builder, 600);
        let zero = builder.ins().iconst(I64, 0);
        builder.ins().stack_store(I64, zero, big, 0);
        let address = builder.ins().stack_addr(I64, big, 0);
        let flags = trusted(builder);
        let value = builder.ins().load(I64, flags, address, 0);
        builder.ins().return_(&[value]);
    });
    optimize(&mut func).unwrap();
    assert_eq!(compile(&func), Err(Error::StackTooLarge { bytes: 600 }));
}

#[test]
fn a_variable_in_a_loop() {
    // sum = 0; for i in 0..n (n = arg0 & 15) { sum += i * arg1 }
    let func = function(|builder, ctx| {
        let n = load_arg(builder, ctx, 0);
        let n = builder.ins().band_imm_s(n, 15);
        let factor = load_arg(builder, ctx, 1);
        let sum = builder.declare_var(I64);
        let index = builder.declare_var(I64);
        let zero = builder.ins().iconst(I64, 0);
        builder.def_var(sum, zero);
        builder.def_var(index, zero);
        let header = builder.create_block();
        let body = builder.create_block();
        let exit = builder.create_block();
        builder.ins().jump(header, &[]);
        builder.switch_to_block(header);
        let i = builder.use_var(index);
        let more = builder.ins().icmp(IntCC::UnsignedLessThan, i, n);
        builder.ins().brif(more, body, &[], exit, &[]);
        builder.switch_to_block(body);
        let i = builder.use_var(index);
        let s = builder.use_var(sum);
        let term = builder.ins().imul(i, factor);
        let s = builder.ins().iadd(s, term);
        builder.def_var(sum, s);
        let i = builder.ins().iadd_imm_s(i, 1);
        builder.def_var(index, i);
        builder.ins().jump(header, &[]);
        builder.switch_to_block(exit);
        let s = builder.use_var(sum);
        builder.ins().return_(&[s]);
    });
    let program = compiled(func);
    if !is_root() {
        return;
    }
    let fd = load_raw(&program, &[]);
    assert_eq!(kernel::run(&fd, &[5, 3]), 30, "\n{}", text(&program));
    assert_eq!(kernel::run(&fd, &[0, 3]), 0);
}

#[test]
fn callback_address_and_callback_arguments() {
    // The program: bpf_loop(3, &callback 1, ctx, 0), its result returned.
    let program = compiled(function(|builder, ctx| {
        let name = builder
            .func
            .declare_imported_user_function(UserExternalName::new(2, 1));
        let signature = builder.import_signature(signature(2));
        let callback = builder.import_function(ExtFuncData {
            name: ExternalName::User(name),
            signature,
            colocated: true,
            patchable: false,
        });
        let address = builder.ins().func_addr(I64, callback);
        let bpf_loop = helper(builder, 181, 4);
        let three = builder.ins().iconst(I64, 3);
        let zero = builder.ins().iconst(I64, 0);
        let rounds = call(builder, bpf_loop, &[three, address, ctx, zero]);
        builder.ins().return_(&[rounds]);
    }));
    assert_eq!(
        text(&program),
        "   0: r3 = r1\n   1: r1 = 3\n   2: r2 = callback[1] ll\n   4: r4 = 0\n   5: call 181\n   6: exit\n"
    );
    assert_eq!(
        program.funcs,
        vec![super::FuncReloc {
            insn: 2,
            callback: 1
        }]
    );
    assert_eq!(program.insns[2].src, super::op::PSEUDO_FUNC);

    // A callback of four arguments reads the ones it uses from r1-r4.
    let mut func = Function::with_name_signature(UserFuncName::user(2, 0), signature(4));
    let mut context = FunctionBuilderContext::new();
    let mut builder = FunctionBuilder::new(&mut func, &mut context);
    let entry = builder.create_block();
    builder.append_block_params_for_function_params(entry);
    builder.switch_to_block(entry);
    let params = builder.block_params(entry).to_vec();
    let flags = MemFlagsData::trusted();
    let value = builder.ins().load(I64, flags, params[2], 0);
    let sum = builder.ins().iadd(value, params[3]);
    builder.ins().return_(&[sum]);
    builder.seal_all_blocks();
    builder.finalize(frontend_config());
    assert_eq!(
        text(&compiled(func)),
        "   0: r0 = *(u64 *)(r3 + 0)\n   1: r0 += r4\n   2: exit\n"
    );
}

/// Callbacks go after the program in order; a reference to one becomes `BPF_PSEUDO_FUNC` with
/// the distance from the next instruction, and map references move with their code.
#[test]
fn link_appends_callbacks_and_resolves_their_references() {
    use super::{FuncReloc, Insn, MapReloc, link};
    let nop = |imm| Insn {
        code: 0xb7,
        dst: 0,
        src: 0,
        off: 0,
        imm,
    };
    let ld64 = Insn {
        code: 0x18,
        dst: 1,
        src: 0,
        off: 0,
        imm: 0,
    };
    let main = Program {
        insns: vec![nop(0), ld64, nop(0), ld64, nop(0), nop(0)],
        relocs: vec![],
        funcs: vec![
            FuncReloc {
                insn: 1,
                callback: 1,
            },
            FuncReloc {
                insn: 3,
                callback: 0,
            },
        ],
    };
    let first = Program {
        insns: vec![ld64, nop(0), nop(1)],
        relocs: vec![MapReloc { insn: 0, map: 7 }],
        funcs: vec![],
    };
    let second = Program {
        insns: vec![nop(2), ld64, nop(0)],
        relocs: vec![],
        funcs: vec![FuncReloc {
            insn: 1,
            callback: 0,
        }],
    };
    let linked = link(&main, &[&first, &second]);
    assert_eq!(linked.starts, [0, 6, 9]);
    assert_eq!(linked.insns.len(), 12);
    assert_eq!(linked.relocs, [MapReloc { insn: 6, map: 7 }]);
    // From instruction 1 to 9, from 3 to 6, and from the second callback's 10 back to 6.
    let refs: Vec<(u8, i32)> = [1, 3, 10]
        .iter()
        .map(|&i| (linked.insns[i].src, linked.insns[i].imm))
        .collect();
    assert_eq!(refs, [(4, 7), (4, 2), (4, -5)]);
    assert_eq!(linked.insns[8], nop(1));
}
