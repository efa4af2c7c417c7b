//! BPF-shaped instructions on virtual registers: what instruction selection produces and
//! regalloc2 allocates. One `VInst` becomes one or a few real instructions.

use regalloc2::{Block, Inst, InstRange, Operand, PReg, PRegSet, RegClass, VReg};

/// A register or a 32-bit immediate (sign-extended by 64-bit operations).
#[derive(Clone, Copy, Debug)]
pub enum Src {
    Reg(VReg),
    Imm(i32),
}

/// The base of a memory access: a register, or the frame pointer r10.
#[derive(Clone, Copy, Debug)]
pub enum Base {
    Reg(VReg),
    Fp,
}

/// A comparison as one conditional jump: `if lhs op rhs`.
#[derive(Clone, Copy, Debug)]
pub struct Cond {
    /// One of `op::JEQ`..`op::JSLE`.
    pub op: u8,
    /// 64-bit comparison (JMP class) or 32-bit (JMP32).
    pub wide: bool,
    pub lhs: VReg,
    pub rhs: Src,
}

#[derive(Clone, Debug)]
pub enum VInst {
    /// Defines the function's arguments, which arrive in r1, r2... Emits nothing.
    Args {
        params: Vec<VReg>,
    },
    Const {
        dst: VReg,
        value: i64,
    },
    MapAddr {
        dst: VReg,
        map: u32,
    },
    /// The address of one of the program's callbacks, for a helper that calls it.
    FuncAddr {
        dst: VReg,
        callback: u32,
    },
    /// `dst = r10 + offset`.
    StackAddr {
        dst: VReg,
        offset: i16,
    },
    /// `dst = lhs op rhs`, two-address: `dst` gets `lhs`'s register.
    Alu {
        operation: u8,
        wide: bool,
        dst: VReg,
        lhs: VReg,
        rhs: Src,
    },
    Neg {
        wide: bool,
        dst: VReg,
        src: VReg,
    },
    Load {
        size: u8,
        dst: VReg,
        base: Base,
        offset: i16,
    },
    Store {
        size: u8,
        base: Base,
        offset: i16,
        value: Src,
    },
    /// `lock *(size *)(base + offset) += value`; `fetched` (in `value`'s register) gets the old value.
    AtomicAdd {
        size: u8,
        base: Base,
        offset: i16,
        value: VReg,
        fetched: Option<VReg>,
    },
    Call {
        helper: i32,
        args: Vec<VReg>,
        result: VReg,
    },
    /// `dst = cond ? if_true : if_false`, with `dst` in `if_true`'s register.
    Select {
        dst: VReg,
        if_true: VReg,
        cond: Cond,
        if_false: VReg,
    },
    /// `dst = cond ? 1 : 0`.
    SetCond {
        dst: VReg,
        cond: Cond,
    },
    Jump {
        target: Block,
    },
    Branch {
        cond: Cond,
        taken: Block,
        not_taken: Block,
    },
    Return {
        value: VReg,
    },
}

#[derive(Clone, Debug, Default)]
pub struct VBlock {
    pub first_inst: usize,
    pub end_inst: usize,
    pub params: Vec<VReg>,
    pub succs: Vec<Block>,
    pub preds: Vec<Block>,
    /// Arguments passed to each successor's params, in `succs` order.
    pub branch_args: Vec<Vec<VReg>>,
}

/// A whole function in virtual registers, ready for regalloc2.
#[derive(Debug, Default)]
pub struct VCode {
    pub insts: Vec<VInst>,
    pub operands: Vec<Vec<Operand>>,
    pub blocks: Vec<VBlock>,
    pub num_vregs: usize,
    /// Bytes of stack used by the program's own stack slots (spills go below them).
    pub slot_bytes: u32,
}

pub fn preg(number: u8) -> PReg {
    PReg::new(number as usize, RegClass::Int)
}

/// The registers a helper call overwrites besides its result in r0.
pub fn call_clobbers() -> PRegSet {
    (1..=5).fold(PRegSet::empty(), |set, number| set.with(preg(number)))
}

/// The operands of `inst`, in the order `emit` reads their allocations.
pub fn operands(inst: &VInst) -> Vec<Operand> {
    let mut list = Vec::new();
    let use_src = |list: &mut Vec<Operand>, src: &Src| {
        if let Src::Reg(reg) = src {
            list.push(Operand::reg_use(*reg));
        }
    };
    let use_base = |list: &mut Vec<Operand>, base: &Base| {
        if let Base::Reg(reg) = base {
            list.push(Operand::reg_use(*reg));
        }
    };
    let use_cond = |list: &mut Vec<Operand>, cond: &Cond| {
        list.push(Operand::reg_use(cond.lhs));
        use_src(list, &cond.rhs);
    };
    match inst {
        VInst::Args { params } => {
            for (index, param) in params.iter().enumerate() {
                list.push(Operand::reg_fixed_def(*param, preg(index as u8 + 1)));
            }
        }
        VInst::Const { dst, .. }
        | VInst::MapAddr { dst, .. }
        | VInst::FuncAddr { dst, .. }
        | VInst::StackAddr { dst, .. } => list.push(Operand::reg_def(*dst)),
        VInst::Alu { dst, lhs, rhs, .. } => {
            list.push(Operand::reg_use(*lhs));
            use_src(&mut list, rhs);
            list.push(Operand::reg_reuse_def(*dst, 0));
        }
        VInst::Neg { dst, src, .. } => {
            list.push(Operand::reg_use(*src));
            list.push(Operand::reg_reuse_def(*dst, 0));
        }
        VInst::Load { dst, base, .. } => {
            use_base(&mut list, base);
            list.push(Operand::reg_def(*dst));
        }
        VInst::Store { base, value, .. } => {
            use_base(&mut list, base);
            use_src(&mut list, value);
        }
        VInst::AtomicAdd {
            base,
            value,
            fetched,
            ..
        } => {
            use_base(&mut list, base);
            list.push(Operand::reg_use(*value));
            if let Some(fetched) = fetched {
                list.push(Operand::reg_reuse_def(*fetched, list.len() - 1));
            }
        }
        VInst::Call { args, result, .. } => {
            for (index, arg) in args.iter().enumerate() {
                list.push(Operand::reg_fixed_use(*arg, preg(index as u8 + 1)));
            }
            list.push(Operand::reg_fixed_def(*result, preg(0)));
        }
        VInst::Select {
            dst,
            if_true,
            cond,
            if_false,
        } => {
            list.push(Operand::reg_use(*if_true));
            use_cond(&mut list, cond);
            list.push(Operand::reg_use(*if_false));
            list.push(Operand::reg_reuse_def(*dst, 0));
        }
        VInst::SetCond { dst, cond } => {
            use_cond(&mut list, cond);
            // Written before the comparison reads its operands.
            list.push(Operand::reg_def_at_start(*dst));
        }
        VInst::Jump { .. } => {}
        VInst::Branch { cond, .. } => use_cond(&mut list, cond),
        VInst::Return { value } => list.push(Operand::reg_fixed_use(*value, preg(0))),
    }
    list
}

impl regalloc2::Function for VCode {
    fn num_insts(&self) -> usize {
        self.insts.len()
    }

    fn num_blocks(&self) -> usize {
        self.blocks.len()
    }

    fn entry_block(&self) -> Block {
        Block::new(0)
    }

    fn block_insns(&self, block: Block) -> InstRange {
        let block = &self.blocks[block.index()];
        InstRange::new(Inst::new(block.first_inst), Inst::new(block.end_inst))
    }

    fn block_succs(&self, block: Block) -> &[Block] {
        &self.blocks[block.index()].succs
    }

    fn block_preds(&self, block: Block) -> &[Block] {
        &self.blocks[block.index()].preds
    }

    fn block_params(&self, block: Block) -> &[VReg] {
        &self.blocks[block.index()].params
    }

    fn is_ret(&self, inst: Inst) -> bool {
        matches!(self.insts[inst.index()], VInst::Return { .. })
    }

    fn is_branch(&self, inst: Inst) -> bool {
        matches!(
            self.insts[inst.index()],
            VInst::Jump { .. } | VInst::Branch { .. }
        )
    }

    fn branch_blockparams(&self, block: Block, _inst: Inst, succ_index: usize) -> &[VReg] {
        &self.blocks[block.index()].branch_args[succ_index]
    }

    fn inst_operands(&self, inst: Inst) -> &[Operand] {
        &self.operands[inst.index()]
    }

    fn inst_clobbers(&self, inst: Inst) -> PRegSet {
        match self.insts[inst.index()] {
            VInst::Call { .. } => call_clobbers(),
            _ => PRegSet::empty(),
        }
    }

    fn num_vregs(&self) -> usize {
        self.num_vregs
    }

    fn spillslot_size(&self, _class: RegClass) -> usize {
        1
    }
}
