//! The ELF object writer: compiled programs and map definitions in, a relocatable eBPF ELF
//! object out, loadable by aya 0.14 and by libbpf (bpftool).
//!
//! # What the object holds
//! - `license`: `GPL\0` (the tracing helpers are GPL-only);
//! - one text section per program, named for its program type (table below), holding its
//!   instructions, with a global FUNC symbol named after the program at offset 0 sized to
//!   the whole section: aya and libbpf both take the program's name and length from it;
//! - `.maps`: one zeroed slot per map, each with a global OBJECT symbol named after the map;
//! - `.BTF`: the BTF the loaders read the map definitions from (see `btf.rs`);
//! - for each `MapReloc`, an `R_BPF_64_64` relocation (REL, no addend) on the `ld_imm64`
//!   against the map's symbol. The addend must be 0: BPF relocations are REL, and the
//!   `object` crate would write a non-zero addend into the instruction bytes.
//!
//! Programs without callbacks need no `.BTF.ext` and no FUNC/FUNC_PROTO types: aya 0.14,
//! libbpf 1.1 (`bpftool prog loadall`) and the 6.18 kernel load the object without them, and
//! the kernel accepts the `.BTF` itself (BPF_BTF_LOAD; all tested in `tests/elf_load.rs`).
//!
//! # Callbacks
//! Functions that helpers call back (`bpf_loop`, `bpf_for_each_map_elem`) go in `.text`, as
//! clang puts static functions: one local FUNC symbol each, sized to its code. A program refers
//! to one with an `ld_imm64` carrying an `R_BPF_64_64` relocation against that symbol; aya
//! appends the callbacks a program uses after it and sets `src_reg` to `PSEUDO_FUNC` and `imm`
//! to the offset. The kernel then wants BTF function records for every function of the program
//! (`.BTF.ext` func_info): a global FUNC for each program section that has callbacks, and a
//! static FUNC (linkage 0) for each callback.
//!
//! # Section names
//! aya 0.14 (`aya_obj::ProgramSection::from_str`) splits the section name at `/` and looks
//! only at the first piece for the program type; the rest is ignored (tracepoint category and
//! name, kprobe function, uprobe target are all given to `attach()` instead). libbpf infers
//! the program type from the same prefix. Names that both accept:
//!
//! | program kind        | section name                    | kernel program type       |
//! |---------------------|---------------------------------|---------------------------|
//! | tracepoint          | `tracepoint/<category>/<name>`  | BPF_PROG_TYPE_TRACEPOINT  |
//! | kprobe              | `kprobe/<function>`             | BPF_PROG_TYPE_KPROBE      |
//! | kretprobe           | `kretprobe/<function>`          | BPF_PROG_TYPE_KPROBE      |
//! | uprobe              | `uprobe` (target given at attach) | BPF_PROG_TYPE_KPROBE    |
//! | uretprobe           | `uretprobe`                     | BPF_PROG_TYPE_KPROBE      |
//! | profile / interval  | `perf_event`                    | BPF_PROG_TYPE_PERF_EVENT  |
//! | raw tracepoint, and begin/end bodies run by BPF_PROG_TEST_RUN | `raw_tp` or `raw_tp/<name>` | BPF_PROG_TYPE_RAW_TRACEPOINT |
//! | xdp                 | `xdp`                           | BPF_PROG_TYPE_XDP         |
//! | tc classifier       | `classifier` (aya has no `tc`)  | BPF_PROG_TYPE_SCHED_CLS   |
//!
//! `raw_tracepoint/<name>` is accepted by both too. aya's `tp` alias for `tracepoint` also
//! works. Several programs may share one section name: each gets its own section.
//!
//! # What aya 0.14 needs
//! - map definitions: `.maps` with a DATASEC of the same name whose VARs name the map symbols;
//!   each VAR's type a STRUCT whose members `type`, `key_size`, `value_size`, `max_entries`,
//!   `map_flags` are pointers to arrays whose length is the value. aya (like libbpf) rewrites
//!   the DATASEC size and VAR offsets from the ELF symbols, and loads the BTF into the kernel
//!   only if it can, falling back to no BTF for these program kinds;
//! - the kernel map name is the symbol's name (at most 15 characters of `[A-Za-z0-9_.]`);
//!   `Ebpf::map(name)` and `Ebpf::program_mut(name)` look up by the full symbol name, while
//!   aya silently truncates program and map names to 15 characters for the kernel;
//! - a ring buffer (`BPF_MAP_TYPE_RINGBUF`) must have no `key_size`/`value_size` members: they
//!   are omitted when zero, and `max_entries` must be a power-of-two multiple of the page size.

mod btf;

use object::write::{Object, Relocation, StandardSegment, Symbol, SymbolSection};
use object::{
    Architecture, BinaryFormat, Endianness, RelocationFlags, SectionKind, SymbolFlags, SymbolKind,
    SymbolScope, elf,
};

use crate::bpf::{CallbackKind, Program};

/// One program to place in the object.
pub struct ProgramSection<'a> {
    /// ELF section name, e.g. "tracepoint/syscalls/sys_enter_openat", "raw_tp/begin": see the
    /// table in this module's doc.
    pub section: String,
    /// The program's name (its FUNC symbol), e.g. "p0_sys_enter_openat". The kernel keeps
    /// only the first 15 characters.
    pub name: String,
    pub program: &'a Program,
    /// The functions its helpers call back; `FuncReloc::callback` indexes this list.
    pub callbacks: Vec<(&'a Program, CallbackKind)>,
}

/// One map, as the kernel creates it (`BPF_MAP_CREATE`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapDef {
    /// Kernel name: at most 15 characters of [A-Za-z0-9_] (the caller guarantees this).
    pub name: String,
    /// BPF_MAP_TYPE_*: 1 hash, 2 array, 5 percpu_hash, 6 percpu_array, 27 ringbuf, ...
    pub map_type: u32,
    /// 0 for a ring buffer.
    pub key_size: u32,
    /// 0 for a ring buffer.
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
}

/// Size of one encoded instruction.
const INSN_SIZE: u64 = 8;

/// The object's BTF as a loader other than aya needs it to load a program with callbacks
/// (rbt loads fentry and fexit itself): the `.BTF` bytes, and for each program its FUNC id then
/// its callbacks' (empty for a program without callbacks).
#[derive(Clone, Debug, Default)]
pub struct FuncBtf {
    pub btf: Vec<u8>,
    pub func_ids: Vec<Vec<u32>>,
}

/// Builds the object. Deterministic: same input, same bytes.
pub fn write(programs: &[ProgramSection], maps: &[MapDef]) -> Vec<u8> {
    write_with_btf(programs, maps).0
}

/// `write`, and the BTF of the functions of programs with callbacks.
pub fn write_with_btf(programs: &[ProgramSection], maps: &[MapDef]) -> (Vec<u8>, FuncBtf) {
    let mut func_btf = FuncBtf {
        btf: Vec::new(),
        func_ids: vec![Vec::new(); programs.len()],
    };
    let mut obj = Object::new(BinaryFormat::Elf, Architecture::Bpf, Endianness::Little);

    let license = obj.add_section(Vec::new(), b"license".to_vec(), SectionKind::Data);
    obj.append_section_data(license, b"GPL\0", 1);

    // Every callback, in `.text`: (program index, callback index, symbol name, byte offset).
    let mut text = Vec::new();
    let mut text_code = Vec::new();
    for (p, program) in programs.iter().enumerate() {
        for (k, callback) in program.callbacks.iter().enumerate() {
            let name = format!("{}_cb{k}", program.name);
            text.push((p, k, name, text_code.len() as u64));
            text_code.extend(crate::bpf::encode(&callback.0.insns));
        }
    }
    // FUNC types: one for all programs with callbacks, then one per callback.
    let main_params = [("ctx", true)];
    let for_each_params = [("map", true), ("key", true), ("value", true), ("ctx", true)];
    let loop_params = [("index", false), ("ctx", true)];
    let mut funcs = Vec::new();
    if !text.is_empty() {
        funcs.push(btf::FuncDef {
            name: "rbt_program",
            params: &main_params,
            global: true,
        });
    }
    for (p, k, name, _) in &text {
        let params: &[(&str, bool)] = match programs[*p].callbacks[*k].1 {
            CallbackKind::Loop => &loop_params,
            CallbackKind::ForEachMapElem => &for_each_params,
        };
        funcs.push(btf::FuncDef {
            name,
            params,
            global: false,
        });
    }
    let with_callbacks: Vec<&str> = programs
        .iter()
        .filter(|p| !p.callbacks.is_empty())
        .map(|p| p.section.as_str())
        .chain((!text.is_empty()).then_some(".text"))
        .collect();

    let mut map_symbols = Vec::with_capacity(maps.len());
    if !maps.is_empty() {
        let (btf, encoded) = btf::encode(maps, &funcs, &with_callbacks);
        let layout = encoded.layout;
        let maps_section = obj.add_section(Vec::new(), b".maps".to_vec(), SectionKind::Data);
        obj.append_section_data(maps_section, &vec![0; layout.section_size as usize], 8);
        for (map, &(offset, size)) in maps.iter().zip(&layout.slots) {
            map_symbols.push(obj.add_symbol(Symbol {
                name: map.name.as_bytes().to_vec(),
                value: offset.into(),
                size: size.into(),
                kind: SymbolKind::Data,
                scope: SymbolScope::Dynamic,
                weak: false,
                section: SymbolSection::Section(maps_section),
                flags: SymbolFlags::None,
            }));
        }
        let btf_section = obj.add_section(Vec::new(), b".BTF".to_vec(), SectionKind::Other);
        obj.append_section_data(btf_section, &btf, 4);
        if !text.is_empty() {
            let (main_id, callback_ids) = (encoded.func_ids[0], &encoded.func_ids[1..]);
            func_btf.btf = btf.clone();
            for ((p, _, _, _), &id) in text.iter().zip(callback_ids) {
                let ids = &mut func_btf.func_ids[*p];
                if ids.is_empty() {
                    ids.push(main_id);
                }
                ids.push(id);
            }
            let (text_name, sections) = encoded.string_offsets.split_last().unwrap();
            let mut records: Vec<(u32, Vec<(u32, u32)>)> = sections
                .iter()
                .map(|&name| (name, vec![(0, main_id)]))
                .collect();
            records.push((
                *text_name,
                text.iter()
                    .zip(callback_ids)
                    .map(|((_, _, _, offset), &id)| (*offset as u32, id))
                    .collect(),
            ));
            let ext = obj.add_section(Vec::new(), b".BTF.ext".to_vec(), SectionKind::Other);
            obj.append_section_data(ext, &btf::encode_ext(&records), 4);
        }
    } else if !text.is_empty() {
        panic!("bug: callbacks without maps");
    }

    // The callbacks' symbols first: programs' relocations refer to them.
    let mut text_symbols = Vec::new();
    let text_section = (!text.is_empty()).then(|| {
        let section = obj.add_section(
            obj.segment_name(StandardSegment::Text).to_vec(),
            b".text".to_vec(),
            SectionKind::Text,
        );
        obj.append_section_data(section, &text_code, INSN_SIZE);
        section
    });
    if let Some(section) = text_section {
        for (p, k, name, offset) in &text {
            let size = programs[*p].callbacks[*k].0.insns.len() as u64 * INSN_SIZE;
            text_symbols.push(obj.add_symbol(Symbol {
                name: name.as_bytes().to_vec(),
                value: *offset,
                size,
                kind: SymbolKind::Text,
                scope: SymbolScope::Compilation,
                weak: false,
                section: SymbolSection::Section(section),
                flags: SymbolFlags::None,
            }));
        }
    }
    // The symbol of callback `k` of program `p`.
    let callback_symbol = |p: usize, k: u32| {
        let at = text
            .iter()
            .position(|(tp, tk, _, _)| *tp == p && *tk == k as usize)
            .unwrap_or_else(|| panic!("bug: reference to missing callback {k}"));
        text_symbols[at]
    };

    if let Some(section) = text_section {
        for (p, k, _, offset) in &text {
            let callback = programs[*p].callbacks[*k].0;
            for reloc in &callback.relocs {
                let symbol = map_symbols[reloc.map as usize];
                add_reloc(
                    &mut obj,
                    section,
                    offset + reloc.insn as u64 * INSN_SIZE,
                    symbol,
                );
            }
            for reloc in &callback.funcs {
                let symbol = callback_symbol(*p, reloc.callback);
                add_reloc(
                    &mut obj,
                    section,
                    offset + reloc.insn as u64 * INSN_SIZE,
                    symbol,
                );
            }
        }
    }

    for (p, program) in programs.iter().enumerate() {
        let code = crate::bpf::encode(&program.program.insns);
        let section = obj.add_section(
            obj.segment_name(StandardSegment::Text).to_vec(),
            program.section.as_bytes().to_vec(),
            SectionKind::Text,
        );
        obj.append_section_data(section, &code, INSN_SIZE);
        obj.add_symbol(Symbol {
            name: program.name.as_bytes().to_vec(),
            value: 0,
            size: code.len() as u64,
            kind: SymbolKind::Text,
            scope: SymbolScope::Dynamic,
            weak: false,
            section: SymbolSection::Section(section),
            flags: SymbolFlags::None,
        });
        for reloc in &program.program.relocs {
            let Some(&symbol) = map_symbols.get(reloc.map as usize) else {
                panic!("bug: map reloc to map {} of {}", reloc.map, maps.len());
            };
            add_reloc(&mut obj, section, reloc.insn as u64 * INSN_SIZE, symbol);
        }
        for reloc in &program.program.funcs {
            let symbol = callback_symbol(p, reloc.callback);
            add_reloc(&mut obj, section, reloc.insn as u64 * INSN_SIZE, symbol);
        }
    }

    let bytes = obj
        .write()
        .unwrap_or_else(|err| panic!("bug: ELF writer failed: {err}"));
    (bytes, func_btf)
}

/// An `R_BPF_64_64` relocation on the `ld_imm64` at byte `offset` (addend 0: see above).
fn add_reloc(
    obj: &mut Object,
    section: object::write::SectionId,
    offset: u64,
    symbol: object::write::SymbolId,
) {
    obj.add_relocation(
        section,
        Relocation {
            offset,
            symbol,
            addend: 0,
            flags: RelocationFlags::Elf {
                r_type: elf::R_BPF_64_64,
            },
        },
    )
    .unwrap_or_else(|err| panic!("bug: relocation refused: {err}"));
}

#[cfg(test)]
mod tests {
    use object::read::{Object as _, ObjectSection as _, ObjectSymbol as _};

    use super::*;
    use crate::bpf::{Insn, MapReloc};

    fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn::new(code, dst, src, off, imm)
    }

    /// r1 = map; r0 = 0; exit
    fn sample() -> (Program, Vec<MapDef>) {
        let program = Program {
            insns: vec![
                insn(0xb7, 0, 0, 0, 0),
                insn(0x18, 1, 0, 0, 0),
                insn(0, 0, 0, 0, 0),
                insn(0x95, 0, 0, 0, 0),
            ],
            relocs: vec![MapReloc { insn: 1, map: 1 }],
            funcs: vec![],
        };
        let maps = vec![
            MapDef {
                name: "first".into(),
                map_type: 1,
                key_size: 16,
                value_size: 8,
                max_entries: 1024,
                flags: 0,
            },
            MapDef {
                name: "second".into(),
                map_type: 2,
                key_size: 4,
                value_size: 8,
                max_entries: 1,
                flags: 0,
            },
        ];
        (program, maps)
    }

    fn build(program: &Program, maps: &[MapDef]) -> Vec<u8> {
        let programs = [ProgramSection {
            section: "tracepoint/syscalls/sys_enter_getpid".into(),
            name: "p0".into(),
            program,
            callbacks: vec![],
        }];
        write(&programs, maps)
    }

    #[test]
    fn encodes_registers_low_nibble_dst() {
        assert_eq!(
            crate::bpf::encode(&[insn(0x7b, 10, 1, -8, 0x01020304)]),
            [0x7b, 0x1a, 0xf8, 0xff, 4, 3, 2, 1]
        );
    }

    #[test]
    fn deterministic() {
        let (program, maps) = sample();
        assert_eq!(build(&program, &maps), build(&program, &maps));
    }

    #[test]
    fn sections_symbols_and_relocation() {
        let (program, maps) = sample();
        let bytes = build(&program, &maps);
        let file = object::File::parse(&*bytes).unwrap();

        let license = file.section_by_name("license").unwrap();
        assert_eq!(license.data().unwrap(), b"GPL\0");
        assert!(file.section_by_name(".BTF").is_some());
        assert_eq!(file.section_by_name(".maps").unwrap().size(), 64);

        let text = file
            .section_by_name("tracepoint/syscalls/sys_enter_getpid")
            .unwrap();
        assert_eq!(text.data().unwrap()[8..10], [0x18, 0x01]);
        let prog = file.symbol_by_name("p0").unwrap();
        assert_eq!(prog.size(), 32);
        assert_eq!(prog.kind(), SymbolKind::Text);
        assert!(prog.is_global());

        let relocs: Vec<_> = text.relocations().collect();
        assert_eq!(relocs.len(), 1);
        let (offset, reloc) = &relocs[0];
        assert_eq!(*offset, 8);
        assert_eq!(
            reloc.flags(),
            RelocationFlags::Elf {
                r_type: elf::R_BPF_64_64
            }
        );
        let object::RelocationTarget::Symbol(index) = reloc.target() else {
            panic!("relocation target is not a symbol");
        };
        let target = file.symbol_by_index(index).unwrap();
        assert_eq!(target.name().unwrap(), "second");
        assert_eq!(target.address(), 32);
        // The instruction bytes stay as encoded: no addend was written into them.
        assert_eq!(text.data().unwrap()[12..16], [0; 4]);
    }

    #[test]
    fn callbacks_go_in_text_with_func_records() {
        let (mut program, maps) = sample();
        // r1 = map; r2 = &callback 0; r0 = 0; exit
        program.insns.splice(3..3, crate::bpf::Insn::ld_func(2));
        program.funcs.push(crate::bpf::FuncReloc {
            insn: 3,
            callback: 0,
        });
        let callback = Program {
            insns: vec![insn(0xb7, 0, 0, 0, 1), insn(0x95, 0, 0, 0, 0)],
            relocs: vec![],
            funcs: vec![],
        };
        let programs = [ProgramSection {
            section: "raw_tp/begin".into(),
            name: "p0".into(),
            program: &program,
            callbacks: vec![(&callback, CallbackKind::Loop)],
        }];
        let bytes = write(&programs, &maps);
        let file = object::File::parse(&*bytes).unwrap();
        let text = file.section_by_name(".text").unwrap();
        assert_eq!(text.size(), 16);
        let symbol = file.symbol_by_name("p0_cb0").unwrap();
        assert_eq!((symbol.address(), symbol.size()), (0, 16));
        assert_eq!(symbol.kind(), SymbolKind::Text);
        assert!(symbol.is_local());
        let section = file.section_by_name("raw_tp/begin").unwrap();
        let relocs: Vec<_> = section.relocations().collect();
        assert_eq!(relocs.len(), 2);
        let object::RelocationTarget::Symbol(index) = relocs[1].1.target() else {
            panic!("relocation target is not a symbol");
        };
        assert_eq!(relocs[1].0, 24);
        assert_eq!(
            file.symbol_by_index(index).unwrap().name().unwrap(),
            "p0_cb0"
        );
        // .BTF.ext: header, rec_size 8, then the program section's main and .text's callback.
        let ext = file
            .section_by_name(".BTF.ext")
            .unwrap()
            .data()
            .unwrap()
            .to_vec();
        assert_eq!(&ext[..4], &[0x9f, 0xeb, 1, 0]);
        let word = |at: usize| u32::from_le_bytes(ext[at..at + 4].try_into().unwrap());
        assert_eq!(word(32), 8);
        assert_eq!(word(40), 1); // one record for raw_tp/begin
        assert_eq!(word(44), 0); // at offset 0
        assert_eq!(word(56), 1); // one record for .text
        assert_eq!(word(60), 0); // at offset 0 in .text
        assert_ne!(
            word(48),
            word(64),
            "main and callback have FUNC types of their own"
        );
    }

    #[test]
    fn no_maps_no_btf() {
        let program = Program {
            insns: vec![insn(0xb7, 0, 0, 0, 0), insn(0x95, 0, 0, 0, 0)],
            relocs: vec![],
            funcs: vec![],
        };
        let bytes = build(&program, &[]);
        let file = object::File::parse(&*bytes).unwrap();
        assert!(file.section_by_name(".maps").is_none());
        assert!(file.section_by_name(".BTF").is_none());
    }
}
