//! Instruction selection: CLIF (the subset `lower` produces) to `VCode`.
//!
//! Register convention: a value of type i8, i16 or i32 is kept zero-extended to 64 bits, so
//! `uextend` is free and unsigned comparisons work on whole registers.
//! Constants, map addresses and stack addresses are rematerialized at each use rather than
//! kept in registers: they are cheap, and the verifier and the four callee-saved registers
//! both prefer it.

use super::op;
use super::vcode::{Base, Cond, Src, VBlock, VCode, VInst, operands};
use cranelift_codegen::entity::EntityRef;
use cranelift_codegen::ir::condcodes::{CondCode, IntCC};
use cranelift_codegen::ir::{
    self, AtomicRmwOp, ExternalName, Function, GlobalValueData, InstructionData, Opcode, Type,
    Value, types,
};
use regalloc2::{Block, RegClass, VReg};

pub fn select(func: &Function) -> VCode {
    let mut selector = Selector::new(func);
    selector.mark_live();
    selector.layout_blocks();
    selector.select_blocks();
    selector.finish()
}

/// The vcode blocks on the (then, else) edges out of a `brif`.
type EdgeBlocks = (Block, Block);

struct Selector<'f> {
    func: &'f Function,
    vcode: VCode,
    /// Live instructions (side effects, or a result that a live instruction consumes).
    live: Vec<bool>,
    /// Values consumed by live instructions.
    used: Vec<bool>,
    /// The CLIF blocks in emission order, each with its vcode block and the edge blocks
    /// (then, else) that follow a `brif`.
    order: Vec<(ir::Block, Block, Option<EdgeBlocks>)>,
    /// The vcode block of each CLIF block.
    block_of: Vec<Option<Block>>,
    /// Frame offset (negative, from r10) of each stack slot.
    slot_offsets: Vec<i32>,
}

fn width(ty: Type) -> u32 {
    match ty {
        types::I8 => 8,
        types::I16 => 16,
        types::I32 => 32,
        types::I64 => 64,
        _ => panic!("bug: type {ty} is not in the BPF subset"),
    }
}

fn mask(ty: Type) -> i64 {
    match width(ty) {
        64 => -1,
        bits => (1i64 << bits) - 1,
    }
}

fn jump_op(cc: IntCC) -> u8 {
    match cc {
        IntCC::Equal => op::JEQ,
        IntCC::NotEqual => op::JNE,
        IntCC::UnsignedLessThan => op::JLT,
        IntCC::UnsignedLessThanOrEqual => op::JLE,
        IntCC::UnsignedGreaterThan => op::JGT,
        IntCC::UnsignedGreaterThanOrEqual => op::JGE,
        IntCC::SignedLessThan => op::JSLT,
        IntCC::SignedLessThanOrEqual => op::JSLE,
        IntCC::SignedGreaterThan => op::JSGT,
        IntCC::SignedGreaterThanOrEqual => op::JSGE,
    }
}

fn is_signed(cc: IntCC) -> bool {
    matches!(
        cc,
        IntCC::SignedLessThan
            | IntCC::SignedLessThanOrEqual
            | IntCC::SignedGreaterThan
            | IntCC::SignedGreaterThanOrEqual
    )
}

fn fits_i32(value: i64) -> bool {
    i32::try_from(value).is_ok()
}

fn offset16(offset: i64) -> i16 {
    i16::try_from(offset).unwrap_or_else(|_| panic!("bug: memory offset {offset} out of range"))
}

impl<'f> Selector<'f> {
    fn new(func: &'f Function) -> Self {
        let mut slot_offsets = Vec::new();
        let mut bytes = 0u32;
        for (_, slot) in func.sized_stack_slots.iter() {
            bytes += slot.size.div_ceil(8) * 8;
            slot_offsets.push(-(bytes as i32));
        }
        let vcode = VCode {
            num_vregs: func.dfg.num_values(),
            slot_bytes: bytes,
            ..VCode::default()
        };
        Selector {
            func,
            vcode,
            live: vec![false; func.dfg.num_insts()],
            used: vec![false; func.dfg.num_values()],
            order: Vec::new(),
            block_of: vec![None; func.dfg.num_blocks()],
            slot_offsets,
        }
    }

    fn dfg(&self) -> &'f ir::DataFlowGraph {
        &self.func.dfg
    }

    fn resolve(&self, value: Value) -> Value {
        self.func.dfg.resolve_aliases(value)
    }

    /// The instruction defining `value`, if it is an instruction result.
    fn def(&self, value: Value) -> Option<(ir::Inst, &'f InstructionData)> {
        let dfg = self.dfg();
        dfg.value_def(self.resolve(value))
            .inst()
            .map(|inst| (inst, &dfg.insts[inst]))
    }

    /// `value` seen through `uextend`, which costs nothing under the zero-extension convention.
    fn through_uextend(&self, value: Value) -> Value {
        let value = self.resolve(value);
        match self.def(value) {
            Some((
                _,
                InstructionData::Unary {
                    opcode: Opcode::Uextend,
                    arg,
                },
            )) => self.through_uextend(*arg),
            _ => value,
        }
    }

    /// The comparison defining a branch or select condition, to fuse into the jump.
    fn fused_compare(&self, value: Value) -> Option<(IntCC, Value, Value)> {
        match self.def(self.through_uextend(value)) {
            Some((_, InstructionData::IntCompare { cond, args, .. })) => {
                Some((*cond, args[0], args[1]))
            }
            _ => None,
        }
    }

    /// The values an instruction really reads, once comparisons are fused into their users.
    fn consumed(&self, inst: ir::Inst) -> Vec<Value> {
        let dfg = self.dfg();
        let data = &dfg.insts[inst];
        let mut values: Vec<Value> = dfg.inst_values(inst).collect();
        let fused_condition = match data {
            InstructionData::Brif { arg, .. } => Some(*arg),
            InstructionData::Ternary {
                opcode: Opcode::Select,
                args,
            } => Some(args[0]),
            _ => None,
        };
        if let Some(condition) = fused_condition
            && let Some((_, lhs, rhs)) = self.fused_compare(condition)
        {
            values.retain(|value| *value != condition);
            values.push(lhs);
            values.push(rhs);
        }
        values
    }

    fn mark_live(&mut self) {
        let dfg = self.dfg();
        let mut work = Vec::new();
        for block in self.func.layout.blocks() {
            for inst in self.func.layout.block_insts(block) {
                let opcode = dfg.insts[inst].opcode();
                if opcode.is_terminator()
                    || opcode.is_call()
                    || opcode.can_store()
                    || opcode.other_side_effects()
                    || opcode == Opcode::AtomicRmw
                {
                    self.live[inst.index()] = true;
                    work.push(inst);
                }
            }
        }
        while let Some(inst) = work.pop() {
            for value in self.consumed(inst) {
                let value = self.resolve(value);
                self.used[value.index()] = true;
                if let Some((def, _)) = self.def(value)
                    && !self.live[def.index()]
                {
                    self.live[def.index()] = true;
                    work.push(def);
                }
            }
        }
    }

    fn new_block(&mut self) -> Block {
        self.vcode.blocks.push(VBlock::default());
        Block::new(self.vcode.blocks.len() - 1)
    }

    /// Numbers the reachable CLIF blocks in layout order, each `brif` followed by its two
    /// edge blocks (regalloc2 needs critical edges split; empty ones are threaded away later).
    fn layout_blocks(&mut self) {
        let entry = self
            .func
            .layout
            .entry_block()
            .unwrap_or_else(|| panic!("bug: function without blocks"));
        let mut reachable = vec![false; self.dfg().num_blocks()];
        let mut work = vec![entry];
        reachable[entry.index()] = true;
        while let Some(block) = work.pop() {
            let terminator = self
                .func
                .layout
                .last_inst(block)
                .unwrap_or_else(|| panic!("bug: empty block {block}"));
            for call in self.dfg().insts[terminator]
                .branch_destination(&self.dfg().jump_tables, &self.dfg().exception_tables)
            {
                let target = call.block(&self.dfg().value_lists);
                if !reachable[target.index()] {
                    reachable[target.index()] = true;
                    work.push(target);
                }
            }
        }
        for block in self.func.layout.blocks() {
            if !reachable[block.index()] {
                continue;
            }
            let vblock = self.new_block();
            self.block_of[block.index()] = Some(vblock);
            let terminator = self.func.layout.last_inst(block).unwrap();
            let edges = match self.dfg().insts[terminator] {
                InstructionData::Brif { .. } => Some((self.new_block(), self.new_block())),
                _ => None,
            };
            self.order.push((block, vblock, edges));
        }
    }

    fn vblock(&self, block: ir::Block) -> Block {
        self.block_of[block.index()].unwrap_or_else(|| panic!("bug: unreachable {block}"))
    }

    fn vreg(&self, value: Value) -> VReg {
        VReg::new(self.through_uextend(value).index(), RegClass::Int)
    }

    fn temp(&mut self) -> VReg {
        self.vcode.num_vregs += 1;
        VReg::new(self.vcode.num_vregs - 1, RegClass::Int)
    }

    fn push(&mut self, inst: VInst) {
        self.vcode.operands.push(operands(&inst));
        self.vcode.insts.push(inst);
    }

    fn select_blocks(&mut self) {
        let order = std::mem::take(&mut self.order);
        for &(block, vblock, edges) in &order {
            self.start_block(vblock);
            if self.func.layout.entry_block() == Some(block) {
                let params = self.dfg().block_params(block).to_vec();
                if params.len() > 5 {
                    panic!("bug: a function of {} arguments", params.len());
                }
                let params = params.iter().map(|&param| self.vreg(param)).collect();
                self.push(VInst::Args { params });
            } else {
                let params = self.dfg().block_params(block).to_vec();
                self.vcode.blocks[vblock.index()].params =
                    params.iter().map(|&param| self.vreg(param)).collect();
            }
            for inst in self.func.layout.block_insts(block) {
                if self.live[inst.index()] {
                    self.select_inst(inst, vblock, edges);
                }
            }
            self.end_block(vblock);
            if let Some((then_edge, else_edge)) = edges {
                let terminator = self.func.layout.last_inst(block).unwrap();
                let InstructionData::Brif { blocks, .. } = self.dfg().insts[terminator] else {
                    panic!("bug: edge blocks without brif");
                };
                for (edge, call) in [(then_edge, blocks[0]), (else_edge, blocks[1])] {
                    self.start_block(edge);
                    self.jump(edge, call);
                    self.end_block(edge);
                }
            }
        }
        self.order = order;
    }

    fn start_block(&mut self, block: Block) {
        self.vcode.blocks[block.index()].first_inst = self.vcode.insts.len();
    }

    fn end_block(&mut self, block: Block) {
        self.vcode.blocks[block.index()].end_inst = self.vcode.insts.len();
    }

    /// A jump from `from` to the block `call` names, with its arguments.
    fn jump(&mut self, from: Block, call: ir::BlockCall) {
        let dfg = self.dfg();
        let target = call.block(&dfg.value_lists);
        let args: Vec<Value> = call
            .args(&dfg.value_lists)
            .map(|arg| {
                arg.as_value()
                    .unwrap_or_else(|| panic!("bug: non-value block argument"))
            })
            .collect();
        let args: Vec<VReg> = args.into_iter().map(|arg| self.reg(arg)).collect();
        let target = self.vblock(target);
        let block = &mut self.vcode.blocks[from.index()];
        block.succs.push(target);
        block.branch_args.push(args);
        self.push(VInst::Jump { target });
    }

    /// The constant value of `value`, zero-extended from its type, if it is an `iconst`.
    fn constant(&self, value: Value) -> Option<i64> {
        let value = self.through_uextend(value);
        match self.def(value) {
            Some((
                _,
                InstructionData::UnaryImm {
                    opcode: Opcode::Iconst,
                    imm,
                },
            )) => Some(imm.bits() & mask(self.dfg().value_type(value))),
            _ => None,
        }
    }

    /// `value` in a register; rematerializable values get a fresh one here.
    fn reg(&mut self, value: Value) -> VReg {
        let value = self.through_uextend(value);
        if let Some(constant) = self.constant(value) {
            let dst = self.temp();
            self.push(VInst::Const {
                dst,
                value: constant,
            });
            return dst;
        }
        match self.def(value) {
            Some((
                _,
                InstructionData::UnaryGlobalValue {
                    opcode: Opcode::SymbolValue,
                    global_value,
                },
            )) => {
                let map = self.map_index(*global_value);
                let dst = self.temp();
                self.push(VInst::MapAddr { dst, map });
                dst
            }
            Some((_, InstructionData::FuncAddr { func_ref, .. })) => {
                let callback = self.callback_index(*func_ref);
                let dst = self.temp();
                self.push(VInst::FuncAddr { dst, callback });
                dst
            }
            Some((
                _,
                InstructionData::StackAddr {
                    stack_slot, offset, ..
                },
            )) => {
                let offset =
                    offset16(self.slot_offsets[stack_slot.index()] as i64 + i64::from(*offset));
                let dst = self.temp();
                self.push(VInst::StackAddr { dst, offset });
                dst
            }
            _ => self.vreg(value),
        }
    }

    fn map_index(&self, global_value: ir::GlobalValue) -> u32 {
        let GlobalValueData::Symbol {
            name: ExternalName::User(name),
            ..
        } = &self.func.global_values[global_value]
        else {
            panic!("bug: global value {global_value} is not a map symbol");
        };
        let name = &self.func.params.user_named_funcs()[*name];
        if name.namespace != 1 {
            panic!("bug: symbol namespace {} is not maps", name.namespace);
        }
        name.index
    }

    /// The callback a `func_addr` names (user functions of namespace 2).
    fn callback_index(&self, func_ref: ir::FuncRef) -> u32 {
        let ExternalName::User(name) = &self.dfg().ext_funcs[func_ref].name else {
            panic!("bug: address of a non-callback");
        };
        let name = &self.func.params.user_named_funcs()[*name];
        if name.namespace != 2 {
            panic!(
                "bug: function namespace {} is not callbacks",
                name.namespace
            );
        }
        name.index
    }

    /// `value` as an operand of an operation of type `ty`: an immediate if it fits.
    fn src(&mut self, value: Value, ty: Type) -> Src {
        match self.constant(value) {
            Some(constant) if width(ty) < 64 => Src::Imm(constant as u32 as i32),
            Some(constant) if fits_i32(constant) => Src::Imm(constant as i32),
            _ => Src::Reg(self.reg(value)),
        }
    }

    fn alu(&mut self, operation: u8, wide: bool, dst: VReg, lhs: VReg, rhs: Src) {
        self.push(VInst::Alu {
            operation,
            wide,
            dst,
            lhs,
            rhs,
        });
    }

    /// `dst = lhs op rhs` on type `ty`, keeping narrow results zero-extended.
    fn alu_typed(&mut self, operation: u8, ty: Type, dst: VReg, lhs: VReg, rhs: Src) {
        let bits = width(ty);
        let overflows = matches!(operation, op::ADD | op::SUB | op::MUL | op::LSH);
        if bits < 32 && overflows {
            let wide_result = self.temp();
            self.alu(operation, false, wide_result, lhs, rhs);
            self.alu(op::AND, false, dst, wide_result, Src::Imm(mask(ty) as i32));
        } else {
            self.alu(operation, bits == 64, dst, lhs, rhs);
        }
    }

    /// A fresh register holding `value` (of width `from` bits) sign-extended to 64 bits.
    fn sign_extend64(&mut self, value: VReg, from: u32) -> VReg {
        let shift = Src::Imm(64 - from as i32);
        let shifted = self.temp();
        self.alu(op::LSH, true, shifted, value, shift);
        let extended = self.temp();
        self.alu(op::ARSH, true, extended, shifted, shift);
        extended
    }

    /// `lhs cc rhs` as one conditional jump's comparison.
    fn cond(&mut self, cc: IntCC, lhs: Value, rhs: Value) -> Cond {
        let (cc, lhs, rhs) = if self.constant(lhs).is_some() && self.constant(rhs).is_none() {
            (cc.swap_args(), rhs, lhs)
        } else {
            (cc, lhs, rhs)
        };
        let ty = self.dfg().value_type(self.resolve(lhs));
        let bits = width(ty);
        let op = jump_op(cc);
        if bits < 32 && is_signed(cc) {
            let lhs = self.reg(lhs);
            let lhs = self.sign_extend64(lhs, bits);
            let rhs = match self.constant(rhs) {
                Some(constant) => Src::Imm(((constant << (64 - bits)) >> (64 - bits)) as i32),
                None => {
                    let rhs = self.reg(rhs);
                    Src::Reg(self.sign_extend64(rhs, bits))
                }
            };
            return Cond {
                op,
                wide: true,
                lhs,
                rhs,
            };
        }
        let lhs = self.reg(lhs);
        let rhs = self.src(rhs, if bits == 32 { types::I32 } else { types::I64 });
        Cond {
            op,
            wide: bits != 32,
            lhs,
            rhs,
        }
    }

    /// The jump condition for a branch or select on `condition`.
    fn condition(&mut self, condition: Value) -> Cond {
        match self.fused_compare(condition) {
            Some((cc, lhs, rhs)) => self.cond(cc, lhs, rhs),
            None => {
                let lhs = self.reg(condition);
                Cond {
                    op: op::JNE,
                    wide: true,
                    lhs,
                    rhs: Src::Imm(0),
                }
            }
        }
    }

    /// The base and offset addressing `address + offset`, folding stack addresses.
    fn address(&mut self, address: Value, offset: i32) -> (Base, i16) {
        if let Some((
            _,
            InstructionData::StackAddr {
                stack_slot,
                offset: slot_offset,
                ..
            },
        )) = self.def(self.through_uextend(address))
        {
            let frame_offset = self.slot_offsets[stack_slot.index()] as i64
                + i64::from(*slot_offset)
                + i64::from(offset);
            return (Base::Fp, offset16(frame_offset));
        }
        (Base::Reg(self.reg(address)), offset16(offset.into()))
    }

    fn size_of(ty: Type) -> u8 {
        match width(ty) {
            8 => op::B,
            16 => op::H,
            32 => op::W,
            _ => op::DW,
        }
    }

    fn store_value(&mut self, value: Value, size: u8) -> Src {
        match self.constant(value) {
            Some(constant) if size != op::DW => Src::Imm(constant as u32 as i32),
            Some(constant) if fits_i32(constant) => Src::Imm(constant as i32),
            _ => Src::Reg(self.reg(value)),
        }
    }

    fn load(&mut self, result: Value, size: u8, signed_from: Option<u32>, base: Base, offset: i16) {
        let dst = self.vreg(result);
        let Some(from) = signed_from else {
            self.push(VInst::Load {
                size,
                dst,
                base,
                offset,
            });
            return;
        };
        let loaded = self.temp();
        self.push(VInst::Load {
            size,
            dst: loaded,
            base,
            offset,
        });
        self.sign_extend_into(dst, loaded, from, self.dfg().value_type(result));
    }

    /// `dst = sextend(src)` from `from` bits to type `to`, zero-extended above `to`.
    fn sign_extend_into(&mut self, dst: VReg, src: VReg, from: u32, to: Type) {
        let to_bits = width(to);
        let container = if to_bits == 64 { 64 } else { 32 };
        let shift = Src::Imm((container - from) as i32);
        let shifted = self.temp();
        self.alu(op::LSH, container == 64, shifted, src, shift);
        if to_bits >= 32 {
            self.alu(op::ARSH, container == 64, dst, shifted, shift);
        } else {
            let extended = self.temp();
            self.alu(op::ARSH, false, extended, shifted, shift);
            self.alu(op::AND, false, dst, extended, Src::Imm(mask(to) as i32));
        }
    }

    fn select_inst(&mut self, inst: ir::Inst, block: Block, edges: Option<(Block, Block)>) {
        let dfg = self.dfg();
        let data = &dfg.insts[inst];
        let opcode = data.opcode();
        let result = dfg.inst_results(inst).first().copied();
        let ty = result.map(|value| dfg.value_type(value));
        match (opcode, data) {
            // Rematerialized at each use, or free.
            (
                Opcode::Iconst
                | Opcode::SymbolValue
                | Opcode::FuncAddr
                | Opcode::StackAddr
                | Opcode::Uextend,
                _,
            ) => {}
            (
                Opcode::Iadd
                | Opcode::Isub
                | Opcode::Imul
                | Opcode::Udiv
                | Opcode::Urem
                | Opcode::Band
                | Opcode::Bor
                | Opcode::Bxor,
                InstructionData::Binary { args, .. },
            ) => {
                let ty = ty.unwrap();
                let operation = match opcode {
                    Opcode::Iadd => op::ADD,
                    Opcode::Isub => op::SUB,
                    Opcode::Imul => op::MUL,
                    Opcode::Udiv => op::DIV,
                    Opcode::Urem => op::MOD,
                    Opcode::Band => op::AND,
                    Opcode::Bor => op::OR,
                    _ => op::XOR,
                };
                let commutative = matches!(
                    opcode,
                    Opcode::Iadd | Opcode::Imul | Opcode::Band | Opcode::Bor | Opcode::Bxor
                );
                let (lhs, rhs) = if commutative && self.constant(args[0]).is_some() {
                    (args[1], args[0])
                } else {
                    (args[0], args[1])
                };
                // x & 0xffff_ffff on 64 bits is a 32-bit move, which zero-extends.
                if operation == op::AND
                    && width(ty) == 64
                    && self.constant(rhs) == Some(0xffff_ffff)
                {
                    let value = self.reg(lhs);
                    let dst = self.vreg(result.unwrap());
                    self.alu(op::MOV, false, dst, value, Src::Reg(value));
                    return;
                }
                let lhs = self.reg(lhs);
                let divides = matches!(operation, op::DIV | op::MOD);
                // The verifier refuses a division by the immediate 0; by a register it is BPF's rule.
                let rhs = match self.src(rhs, ty) {
                    Src::Imm(0) if divides => Src::Reg(self.reg(rhs)),
                    rhs => rhs,
                };
                let dst = self.vreg(result.unwrap());
                self.alu_typed(operation, ty, dst, lhs, rhs);
            }
            (Opcode::Ishl | Opcode::Ushr | Opcode::Sshr, InstructionData::Binary { args, .. }) => {
                let ty = ty.unwrap();
                let bits = width(ty);
                let amount = match self.constant(args[1]) {
                    Some(amount) => Src::Imm((amount & (bits as i64 - 1)) as i32),
                    None => {
                        let amount = self.reg(args[1]);
                        let masked = self.temp();
                        self.alu(op::AND, false, masked, amount, Src::Imm(bits as i32 - 1));
                        Src::Reg(masked)
                    }
                };
                let value = self.reg(args[0]);
                let dst = self.vreg(result.unwrap());
                match opcode {
                    Opcode::Ishl => self.alu_typed(op::LSH, ty, dst, value, amount),
                    Opcode::Ushr => self.alu(op::RSH, bits == 64, dst, value, amount),
                    _ if bits >= 32 => self.alu(op::ARSH, bits == 64, dst, value, amount),
                    _ => {
                        let extended = self.temp();
                        self.sign_extend_into(extended, value, bits, types::I32);
                        let shifted = self.temp();
                        self.alu(op::ARSH, false, shifted, extended, amount);
                        self.alu(op::AND, false, dst, shifted, Src::Imm(mask(ty) as i32));
                    }
                }
            }
            (Opcode::Rotl | Opcode::Rotr, InstructionData::Binary { args, .. }) => {
                let ty = ty.unwrap();
                let bits = width(ty) as i64;
                let Some(amount) = self.constant(args[1]) else {
                    panic!("bug: rotate by a register is not in the BPF subset");
                };
                let left = if opcode == Opcode::Rotl {
                    amount
                } else {
                    bits - amount
                };
                let left = left & (bits - 1);
                let value = self.reg(args[0]);
                let dst = self.vreg(result.unwrap());
                if left == 0 {
                    self.alu(op::OR, bits == 64, dst, value, Src::Imm(0));
                } else {
                    let high = self.temp();
                    self.alu_typed(op::LSH, ty, high, value, Src::Imm(left as i32));
                    let low = self.temp();
                    self.alu(
                        op::RSH,
                        bits == 64,
                        low,
                        value,
                        Src::Imm((bits - left) as i32),
                    );
                    self.alu(op::OR, bits == 64, dst, high, Src::Reg(low));
                }
            }
            (Opcode::Bmask, InstructionData::Unary { arg, .. }) => {
                // All ones when the argument is non-zero: -(x != 0), kept zero-extended.
                let ty = ty.unwrap();
                let lhs = self.reg(*arg);
                let flag = self.temp();
                let cond = Cond {
                    op: op::JNE,
                    wide: true,
                    lhs,
                    rhs: Src::Imm(0),
                };
                self.push(VInst::SetCond { dst: flag, cond });
                let dst = self.vreg(result.unwrap());
                if width(ty) >= 32 {
                    self.push(VInst::Neg {
                        wide: width(ty) == 64,
                        dst,
                        src: flag,
                    });
                } else {
                    let negated = self.temp();
                    self.push(VInst::Neg {
                        wide: false,
                        dst: negated,
                        src: flag,
                    });
                    self.alu(op::AND, false, dst, negated, Src::Imm(mask(ty) as i32));
                }
            }
            (Opcode::Bnot, InstructionData::Unary { arg, .. }) => {
                let ty = ty.unwrap();
                let value = self.reg(*arg);
                let dst = self.vreg(result.unwrap());
                let ones = if width(ty) < 32 { mask(ty) as i32 } else { -1 };
                self.alu(op::XOR, width(ty) == 64, dst, value, Src::Imm(ones));
            }
            (Opcode::Ineg, InstructionData::Unary { arg, .. }) => {
                let ty = ty.unwrap();
                let value = self.reg(*arg);
                let dst = self.vreg(result.unwrap());
                if width(ty) < 32 {
                    let negated = self.temp();
                    self.push(VInst::Neg {
                        wide: false,
                        dst: negated,
                        src: value,
                    });
                    self.alu(op::AND, false, dst, negated, Src::Imm(mask(ty) as i32));
                } else {
                    self.push(VInst::Neg {
                        wide: width(ty) == 64,
                        dst,
                        src: value,
                    });
                }
            }
            (Opcode::Sextend, InstructionData::Unary { arg, .. }) => {
                let from = width(dfg.value_type(*arg));
                let value = self.reg(*arg);
                let dst = self.vreg(result.unwrap());
                self.sign_extend_into(dst, value, from, ty.unwrap());
            }
            (Opcode::Ireduce, InstructionData::Unary { arg, .. }) => {
                let ty = ty.unwrap();
                let value = self.reg(*arg);
                let dst = self.vreg(result.unwrap());
                if width(ty) == 32 {
                    self.alu(op::MOV, false, dst, value, Src::Reg(value));
                } else {
                    self.alu(op::AND, false, dst, value, Src::Imm(mask(ty) as i32));
                }
            }
            (Opcode::Icmp, InstructionData::IntCompare { args, cond, .. }) => {
                let cond = self.cond(*cond, args[0], args[1]);
                let dst = self.vreg(result.unwrap());
                self.push(VInst::SetCond { dst, cond });
            }
            (Opcode::Select, InstructionData::Ternary { args, .. }) => {
                let cond = self.condition(args[0]);
                let if_true = self.reg(args[1]);
                let if_false = self.reg(args[2]);
                let dst = self.vreg(result.unwrap());
                self.push(VInst::Select {
                    dst,
                    if_true,
                    cond,
                    if_false,
                });
            }
            (
                Opcode::Umin | Opcode::Umax | Opcode::Smin | Opcode::Smax,
                InstructionData::Binary { args, .. },
            ) => {
                let cc = match opcode {
                    Opcode::Umin => IntCC::UnsignedLessThan,
                    Opcode::Umax => IntCC::UnsignedGreaterThan,
                    Opcode::Smin => IntCC::SignedLessThan,
                    _ => IntCC::SignedGreaterThan,
                };
                let cond = self.cond(cc, args[0], args[1]);
                let if_true = self.reg(args[0]);
                let if_false = self.reg(args[1]);
                let dst = self.vreg(result.unwrap());
                self.push(VInst::Select {
                    dst,
                    if_true,
                    cond,
                    if_false,
                });
            }
            (
                Opcode::Load
                | Opcode::Uload8
                | Opcode::Uload16
                | Opcode::Uload32
                | Opcode::Sload8
                | Opcode::Sload16
                | Opcode::Sload32,
                InstructionData::Load { arg, offset, .. },
            ) => {
                let (size, signed_from) = match opcode {
                    Opcode::Load => (Self::size_of(ty.unwrap()), None),
                    Opcode::Uload8 => (op::B, None),
                    Opcode::Uload16 => (op::H, None),
                    Opcode::Uload32 => (op::W, None),
                    Opcode::Sload8 => (op::B, Some(8)),
                    Opcode::Sload16 => (op::H, Some(16)),
                    _ => (op::W, Some(32)),
                };
                let (base, offset) = self.address(*arg, (*offset).into());
                self.load(result.unwrap(), size, signed_from, base, offset);
            }
            (
                Opcode::Store | Opcode::Istore8 | Opcode::Istore16 | Opcode::Istore32,
                InstructionData::Store { args, offset, .. },
            ) => {
                let size = match opcode {
                    Opcode::Store => Self::size_of(dfg.value_type(args[0])),
                    Opcode::Istore8 => op::B,
                    Opcode::Istore16 => op::H,
                    _ => op::W,
                };
                let value = self.store_value(args[0], size);
                let (base, offset) = self.address(args[1], (*offset).into());
                self.push(VInst::Store {
                    size,
                    base,
                    offset,
                    value,
                });
            }
            (Opcode::AtomicRmw, InstructionData::AtomicRmw { args, op: rmw, .. }) => {
                if *rmw != AtomicRmwOp::Add {
                    panic!("bug: atomic_rmw {rmw} is not in the BPF subset");
                }
                let size = match width(ty.unwrap()) {
                    32 => op::W,
                    64 => op::DW,
                    bits => panic!("bug: atomic add on {bits} bits"),
                };
                let value = self.reg(args[1]);
                let (base, offset) = self.address(args[0], 0);
                let result = result.unwrap();
                let fetched = self.used[result.index()].then(|| self.vreg(result));
                self.push(VInst::AtomicAdd {
                    size,
                    base,
                    offset,
                    value,
                    fetched,
                });
            }
            (Opcode::Call, InstructionData::Call { func_ref, .. }) => {
                let ExternalName::User(name) = &dfg.ext_funcs[*func_ref].name else {
                    panic!("bug: call to a non-helper");
                };
                let name = &self.func.params.user_named_funcs()[*name];
                if name.namespace != 0 {
                    panic!("bug: call namespace {} is not helpers", name.namespace);
                }
                let args: Vec<Value> = dfg.inst_args(inst).to_vec();
                if args.len() > 5 {
                    panic!("bug: helper call with {} arguments", args.len());
                }
                let args = args.into_iter().map(|arg| self.reg(arg)).collect();
                let result = match result {
                    Some(value) => self.vreg(value),
                    None => self.temp(),
                };
                self.push(VInst::Call {
                    helper: name.index as i32,
                    args,
                    result,
                });
            }
            (Opcode::Jump, InstructionData::Jump { destination, .. }) => {
                self.jump(block, *destination);
            }
            (Opcode::Brif, InstructionData::Brif { arg, .. }) => {
                let (taken, not_taken) = edges.unwrap();
                let cond = self.condition(*arg);
                let vblock = &mut self.vcode.blocks[block.index()];
                vblock.succs.extend([taken, not_taken]);
                vblock.branch_args.extend([Vec::new(), Vec::new()]);
                self.push(VInst::Branch {
                    cond,
                    taken,
                    not_taken,
                });
            }
            (Opcode::Return, _) => {
                let args = dfg.inst_args(inst);
                let value = match args {
                    [value] => self.reg(*value),
                    [] => {
                        let dst = self.temp();
                        self.push(VInst::Const { dst, value: 0 });
                        dst
                    }
                    _ => panic!("bug: return of {} values", args.len()),
                };
                self.push(VInst::Return { value });
            }
            _ => panic!(
                "bug: instruction `{}` is not in the BPF subset",
                dfg.display_inst(inst)
            ),
        }
    }

    fn finish(mut self) -> VCode {
        let count = self.vcode.blocks.len();
        for index in 0..count {
            for succ in self.vcode.blocks[index].succs.clone() {
                self.vcode.blocks[succ.index()]
                    .preds
                    .push(Block::new(index));
            }
        }
        self.vcode
    }
}
