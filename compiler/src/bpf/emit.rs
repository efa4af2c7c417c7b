//! Register allocation with regalloc2, then the final instructions: moves and spills from its
//! edits, jump threading through empty edge blocks, fallthrough, and branch offsets.

use super::vcode::{Base, Cond, Src, VCode, VInst, preg};
use super::{Error, FP, FuncReloc, Insn, MapReloc, Program, STACK_LIMIT, op};
use regalloc2::{
    Allocation, Block, Edit, Function, InstOrEdit, MachineEnv, PRegSet, RegallocOptions,
};

/// An instruction whose jump target is a block, resolved once the layout is known.
#[derive(Clone, Copy, Debug)]
enum Item {
    Insn(Insn),
    /// A jump (conditional or not) to the start of a block; `insn.off` gets patched.
    Jump(Insn, Block),
    /// An `ld_imm64` of a map's address (its first half).
    Map(Insn, u32),
    /// An `ld_imm64` of a callback's address (its first half).
    Func(Insn, u32),
    /// An `ld_imm64` of a constant: both halves.
    Wide(Insn, Insn),
}

enum Exit {
    Jump(Block),
    Branch(Cond, [u8; 2], Block, Block),
    None,
}

fn machine_env() -> MachineEnv {
    // r6-r9 survive calls: prefer r0-r5 for short-lived values, so values live across calls
    // take the callee-saved ones.
    let preferred = (0..=9).fold(PRegSet::empty(), |set, number| set.with(preg(number)));
    MachineEnv {
        preferred_regs_by_class: [preferred, PRegSet::empty(), PRegSet::empty()],
        non_preferred_regs_by_class: [PRegSet::empty(); 3],
        scratch_by_class: [None; 3],
        fixed_stack_slots: Vec::new(),
    }
}

pub fn emit(vcode: &VCode) -> Result<Program, Error> {
    let options = RegallocOptions {
        validate_ssa: cfg!(debug_assertions),
        ..Default::default()
    };
    let output = regalloc2::run(vcode, &machine_env(), &options)
        .unwrap_or_else(|error| panic!("bug: register allocation failed: {error:?}"));
    let bytes = vcode.slot_bytes + 8 * output.num_spillslots as u32;
    if bytes > STACK_LIMIT {
        return Err(Error::StackTooLarge { bytes });
    }
    let spill_offset = |slot: usize| -((vcode.slot_bytes + 8 * (slot as u32 + 1)) as i32) as i16;

    // Body and exit of each block, with allocations applied.
    let mut bodies: Vec<Vec<Item>> = Vec::new();
    let mut exits: Vec<Exit> = Vec::new();
    for index in 0..vcode.num_blocks() {
        let block = Block::new(index);
        let mut body = Vec::new();
        let mut exit = Exit::None;
        for item in output.block_insts_and_edits(vcode, block) {
            match item {
                InstOrEdit::Edit(Edit::Move { from, to }) => {
                    move_insn(*from, *to, &spill_offset, &mut body)
                }
                InstOrEdit::Inst(inst) => {
                    let allocs: Vec<u8> = output
                        .inst_allocs(inst)
                        .iter()
                        .map(|alloc| reg_of(*alloc))
                        .collect();
                    match &vcode.insts[inst.index()] {
                        VInst::Jump { target } => exit = Exit::Jump(*target),
                        VInst::Branch {
                            cond,
                            taken,
                            not_taken,
                        } => {
                            exit = Exit::Branch(
                                *cond,
                                [allocs[0], *allocs.get(1).unwrap_or(&0)],
                                *taken,
                                *not_taken,
                            )
                        }
                        other => inst_items(other, &allocs, &mut body),
                    }
                }
            }
        }
        bodies.push(body);
        exits.push(exit);
    }

    // Thread jumps through blocks that hold nothing but a jump.
    let forward = |mut block: Block| {
        for _ in 0..vcode.num_blocks() {
            match exits[block.index()] {
                Exit::Jump(target) if bodies[block.index()].is_empty() && block.index() != 0 => {
                    block = target
                }
                _ => break,
            }
        }
        block
    };
    let targets_of = |block: usize| -> Vec<Block> {
        match exits[block] {
            Exit::Jump(target) => vec![forward(target)],
            Exit::Branch(_, _, taken, not_taken) => vec![forward(taken), forward(not_taken)],
            Exit::None => Vec::new(),
        }
    };
    let mut reachable = vec![false; vcode.num_blocks()];
    let mut work = vec![0];
    reachable[0] = true;
    while let Some(block) = work.pop() {
        for target in targets_of(block) {
            if !reachable[target.index()] {
                reachable[target.index()] = true;
                work.push(target.index());
            }
        }
    }
    let emitted: Vec<usize> = (0..vcode.num_blocks()).filter(|&b| reachable[b]).collect();

    // Lay out, with fallthrough.
    let mut items: Vec<Item> = Vec::new();
    let mut starts = vec![usize::MAX; vcode.num_blocks()];
    let mut item_starts = Vec::new();
    for (position, &block) in emitted.iter().enumerate() {
        starts[block] = item_starts.len();
        item_starts.push(items.len());
        let next = emitted.get(position + 1).map(|&b| Block::new(b));
        items.extend(bodies[block].iter().copied());
        match exits[block] {
            Exit::Jump(target) => {
                let target = forward(target);
                if Some(target) != next {
                    items.push(Item::Jump(Insn::ja(0), target));
                }
            }
            Exit::Branch(cond, regs, taken, not_taken) => {
                let (taken, not_taken) = (forward(taken), forward(not_taken));
                if taken == not_taken {
                    if Some(taken) != next {
                        items.push(Item::Jump(Insn::ja(0), taken));
                    }
                } else if Some(taken) == next {
                    items.push(Item::Jump(jump_insn(&cond, regs, true), not_taken));
                } else {
                    items.push(Item::Jump(jump_insn(&cond, regs, false), taken));
                    if Some(not_taken) != next {
                        items.push(Item::Jump(Insn::ja(0), not_taken));
                    }
                }
            }
            Exit::None => {}
        }
    }

    // Instruction index of each item (an ld_imm64 takes two slots).
    let mut insn_index = Vec::with_capacity(items.len() + 1);
    let mut count = 0usize;
    for item in &items {
        insn_index.push(count);
        count += match item {
            Item::Map(..) | Item::Func(..) | Item::Wide(..) => 2,
            _ => 1,
        };
    }
    let block_insn = |block: Block| {
        let start = starts[block.index()];
        if start == usize::MAX {
            panic!("bug: jump to a block that was not emitted");
        }
        let item = item_starts[start];
        insn_index.get(item).copied().unwrap_or(count)
    };

    let mut program = Program::default();
    for (index, item) in items.iter().enumerate() {
        match *item {
            Item::Insn(insn) => program.insns.push(insn),
            Item::Wide(low, high) => program.insns.extend([low, high]),
            Item::Jump(mut insn, target) => {
                let distance = block_insn(target) as i64 - insn_index[index] as i64 - 1;
                // ISA v3 jumps reach 32767 instructions (the long `gotol` is v4).
                insn.off = i16::try_from(distance).map_err(|_| Error::JumpTooFar { distance })?;
                program.insns.push(insn);
            }
            Item::Map(insn, map) => {
                program.relocs.push(MapReloc {
                    insn: program.insns.len(),
                    map,
                });
                program.insns.push(insn);
                program.insns.push(Insn::new(0, 0, 0, 0, 0));
            }
            Item::Func(insn, callback) => {
                program.funcs.push(FuncReloc {
                    insn: program.insns.len(),
                    callback,
                });
                program.insns.push(insn);
                program.insns.push(Insn::new(0, 0, 0, 0, 0));
            }
        }
    }
    Ok(program)
}

fn reg_of(alloc: Allocation) -> u8 {
    match alloc.as_reg() {
        Some(reg) => reg.hw_enc() as u8,
        None => panic!("bug: operand allocated to {alloc}, not a register"),
    }
}

fn move_insn(
    from: Allocation,
    to: Allocation,
    spill_offset: &dyn Fn(usize) -> i16,
    body: &mut Vec<Item>,
) {
    match (from.as_reg(), to.as_reg(), from.as_stack(), to.as_stack()) {
        (Some(from), Some(to), _, _) => {
            if from != to {
                body.push(Item::Insn(Insn::mov64_reg(
                    to.hw_enc() as u8,
                    from.hw_enc() as u8,
                )));
            }
        }
        (Some(from), None, _, Some(slot)) => body.push(Item::Insn(Insn::store(
            op::DW,
            FP,
            spill_offset(slot.index()),
            from.hw_enc() as u8,
        ))),
        (None, Some(to), Some(slot), _) => body.push(Item::Insn(Insn::load(
            op::DW,
            to.hw_enc() as u8,
            FP,
            spill_offset(slot.index()),
        ))),
        _ => panic!("bug: move from {from} to {to}"),
    }
}

const fn invert(jump: u8) -> u8 {
    match jump {
        op::JEQ => op::JNE,
        op::JNE => op::JEQ,
        op::JGT => op::JLE,
        op::JLE => op::JGT,
        op::JGE => op::JLT,
        op::JLT => op::JGE,
        op::JSGT => op::JSLE,
        op::JSLE => op::JSGT,
        op::JSGE => op::JSLT,
        op::JSLT => op::JSGE,
        _ => panic!("bug: jump has no inverse"),
    }
}

/// The conditional jump for `cond`, its registers in `regs` (lhs, rhs), offset patched later.
fn jump_insn(cond: &Cond, regs: [u8; 2], inverted: bool) -> Insn {
    let class = if cond.wide { op::JMP } else { op::JMP32 };
    let operation = if inverted { invert(cond.op) } else { cond.op };
    match cond.rhs {
        Src::Reg(_) => Insn::new(class | operation | op::X, regs[0], regs[1], 0, 0),
        Src::Imm(imm) => Insn::new(class | operation | op::K, regs[0], 0, 0, imm),
    }
}

fn alu_insn(operation: u8, wide: bool, dst: u8, rhs: Src, rhs_reg: u8) -> Insn {
    let class = if wide { op::ALU64 } else { op::ALU };
    match rhs {
        Src::Reg(_) => Insn::new(class | operation | op::X, dst, rhs_reg, 0, 0),
        Src::Imm(imm) => Insn::new(class | operation | op::K, dst, 0, 0, imm),
    }
}

/// Splits allocations in operand order, as `vcode::operands` lists them.
struct Allocs<'a>(&'a [u8]);

impl Allocs<'_> {
    fn next(&mut self) -> u8 {
        let (first, rest) = self
            .0
            .split_first()
            .unwrap_or_else(|| panic!("bug: too few allocations"));
        self.0 = rest;
        *first
    }

    fn base(&mut self, base: &Base) -> u8 {
        match base {
            Base::Reg(_) => self.next(),
            Base::Fp => FP,
        }
    }

    fn src(&mut self, src: &Src) -> u8 {
        match src {
            Src::Reg(_) => self.next(),
            Src::Imm(_) => 0,
        }
    }
}

fn inst_items(inst: &VInst, allocs: &[u8], body: &mut Vec<Item>) {
    let mut regs = Allocs(allocs);
    let mut push = |insn: Insn| body.push(Item::Insn(insn));
    match inst {
        VInst::Args { .. } => {}
        VInst::Const { value, .. } => {
            let dst = regs.next();
            match i32::try_from(*value) {
                Ok(imm) => push(Insn::mov64_imm(dst, imm)),
                Err(_) if *value >= 0 && *value <= u32::MAX as i64 => {
                    // `w = imm` zero-extends: one instruction for any 32-bit unsigned value.
                    push(Insn::alu32_imm(op::MOV, dst, *value as u32 as i32))
                }
                Err(_) => {
                    let [low, high] = Insn::ld_imm64(dst, *value as u64);
                    body.push(Item::Wide(low, high));
                }
            }
        }
        VInst::MapAddr { map, .. } => {
            let dst = regs.next();
            body.push(Item::Map(Insn::ld_map_fd(dst, 0)[0], *map));
        }
        VInst::FuncAddr { callback, .. } => {
            let dst = regs.next();
            body.push(Item::Func(Insn::ld_func(dst)[0], *callback));
        }
        VInst::StackAddr { offset, .. } => {
            let dst = regs.next();
            push(Insn::mov64_reg(dst, FP));
            push(Insn::alu64_imm(op::ADD, dst, i32::from(*offset)));
        }
        VInst::Alu {
            operation,
            wide,
            rhs,
            ..
        } => {
            let lhs = regs.next();
            let rhs_reg = regs.src(rhs);
            let dst = regs.next();
            if dst != lhs {
                panic!("bug: two-address operand not reused");
            }
            push(alu_insn(*operation, *wide, dst, *rhs, rhs_reg));
        }
        VInst::Neg { wide, .. } => {
            let _src = regs.next();
            let dst = regs.next();
            let class = if *wide { op::ALU64 } else { op::ALU };
            push(Insn::new(class | op::NEG, dst, 0, 0, 0));
        }
        VInst::Load {
            size, base, offset, ..
        } => {
            let base = regs.base(base);
            let dst = regs.next();
            push(Insn::load(*size, dst, base, *offset));
        }
        VInst::Store {
            size,
            base,
            offset,
            value,
        } => {
            let base = regs.base(base);
            match value {
                Src::Reg(_) => push(Insn::store(*size, base, *offset, regs.next())),
                Src::Imm(imm) => push(Insn::store_imm(*size, base, *offset, *imm)),
            }
        }
        VInst::AtomicAdd {
            size,
            base,
            offset,
            fetched,
            ..
        } => {
            let base = regs.base(base);
            let value = regs.next();
            push(Insn::atomic_add(
                *size,
                base,
                *offset,
                value,
                fetched.is_some(),
            ));
        }
        VInst::Call { helper, .. } => push(Insn::call(*helper)),
        VInst::Select { cond, .. } => {
            let _if_true = regs.next();
            let lhs = regs.next();
            let rhs = regs.src(&cond.rhs);
            let if_false = regs.next();
            let dst = regs.next();
            let mut skip = jump_insn(cond, [lhs, rhs], false);
            skip.off = 1;
            push(skip);
            push(Insn::mov64_reg(dst, if_false));
        }
        VInst::SetCond { cond, .. } => {
            let lhs = regs.next();
            let rhs = regs.src(&cond.rhs);
            let dst = regs.next();
            push(Insn::mov64_imm(dst, 1));
            let mut skip = jump_insn(cond, [lhs, rhs], false);
            skip.off = 1;
            push(skip);
            push(Insn::mov64_imm(dst, 0));
        }
        VInst::Return { .. } => push(Insn::exit()),
        VInst::Jump { .. } | VInst::Branch { .. } => panic!("bug: branch inside a block"),
    }
}
