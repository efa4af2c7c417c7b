//! A small BTF encoder: just enough types to describe BTF-defined maps (`.maps`), and the
//! FUNC types and `.BTF.ext` function records that programs with callbacks need (the kernel
//! refuses a `PSEUDO_FUNC` reference without them, and wants callbacks `static`).
//!
//! Each map becomes the anonymous struct clang emits for
//! `struct { __uint(type, T); __uint(key_size, K); ... } name SEC(".maps");`, where
//! `__uint(field, N)` is `int (*field)[N]`: the loaders read N back as the array's length.
//! Layout of `struct btf_header` and the kinds: linux/include/uapi/linux/btf.h.

use super::MapDef;

const BTF_MAGIC: u16 = 0xeb9f;
const BTF_VERSION: u8 = 1;
const HEADER_LEN: u32 = 24;

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;

const INT_SIGNED: u32 = 1;
const VAR_GLOBAL_ALLOCATED: u32 = 1;
const FUNC_STATIC: u32 = 0;
const FUNC_GLOBAL: u32 = 1;

/// A function to describe: its name, its parameters (name, and whether it is a pointer;
/// otherwise a `long`), and whether it is a program (global) or a callback (static). Every
/// function returns `long`.
pub(super) struct FuncDef<'a> {
    pub name: &'a str,
    pub params: &'a [(&'a str, bool)],
    pub global: bool,
}

/// What `encode` produced besides the BTF bytes.
pub(super) struct Encoded {
    pub layout: MapsLayout,
    /// The FUNC type id of each function given, in order.
    pub func_ids: Vec<u32>,
    /// The string offset of each extra string given, in order.
    pub string_offsets: Vec<u32>,
}

/// Every member of a map struct is a pointer: 8 bytes.
const MEMBER_SIZE: u32 = 8;

/// The `.maps` layout the BTF describes: where each map's struct sits in the section.
pub(super) struct MapsLayout {
    /// (offset, size) of each map's struct in `.maps`, in the order of the maps given.
    pub slots: Vec<(u32, u32)>,
    pub section_size: u32,
}

/// Encodes `.BTF` for `maps` and returns it with the `.maps` layout it assumes.
#[cfg(test)]
fn encode_maps(maps: &[MapDef]) -> (Vec<u8>, MapsLayout) {
    let (btf, encoded) = encode(maps, &[], &[]);
    (btf, encoded.layout)
}

/// Encodes `.BTF` for `maps` and `funcs`; `strings` (section names, for `.BTF.ext`) are added
/// to the string table.
pub(super) fn encode(maps: &[MapDef], funcs: &[FuncDef], strings: &[&str]) -> (Vec<u8>, Encoded) {
    let mut btf = Builder::default();
    let int = btf.int("int", 4);
    // `int (*)[N]` types, shared by every member with the same N; ids in order of first use.
    let mut sized_ptrs: Vec<(u32, u32)> = Vec::new();
    let mut ptr_to_array_of = |btf: &mut Builder, len: u32| -> u32 {
        if let Some(&(_, id)) = sized_ptrs.iter().find(|(n, _)| *n == len) {
            return id;
        }
        let array = btf.array(int, int, len);
        let id = btf.ptr(array);
        sized_ptrs.push((len, id));
        id
    };

    let mut vars = Vec::new();
    let mut slots = Vec::new();
    let mut offset = 0;
    for map in maps {
        // Zero sizes are left out: a ring buffer must not have key or value sizes at all.
        let fields = [
            ("type", map.map_type, true),
            ("key_size", map.key_size, map.key_size != 0),
            ("value_size", map.value_size, map.value_size != 0),
            ("max_entries", map.max_entries, true),
            ("map_flags", map.flags, map.flags != 0),
        ];
        let mut members = Vec::new();
        for (name, value, present) in fields {
            if present {
                members.push((name, ptr_to_array_of(&mut btf, value)));
            }
        }
        let size = members.len() as u32 * MEMBER_SIZE;
        let def = btf.anonymous_struct(&members);
        let var = btf.var(&map.name, def);
        vars.push((var, offset, size));
        slots.push((offset, size));
        offset += size;
    }
    btf.datasec(".maps", offset, &vars);
    let layout = MapsLayout {
        slots,
        section_size: offset,
    };
    let mut func_ids = Vec::new();
    if !funcs.is_empty() {
        let long = btf.int("long", 8);
        let void_ptr = btf.ptr(0);
        for func in funcs {
            let params: Vec<(u32, u32)> = func
                .params
                .iter()
                .map(|&(name, is_ptr)| (btf.string(name), if is_ptr { void_ptr } else { long }))
                .collect();
            let proto = btf.header(0, KIND_FUNC_PROTO, params.len() as u32, long);
            for (name, ty) in params {
                btf.words(&[name, ty]);
            }
            let name = btf.string(func.name);
            let linkage = if func.global {
                FUNC_GLOBAL
            } else {
                FUNC_STATIC
            };
            func_ids.push(btf.header(name, KIND_FUNC, linkage, proto));
        }
    }
    let string_offsets = strings.iter().map(|s| btf.string(s)).collect();
    let encoded = Encoded {
        layout,
        func_ids,
        string_offsets,
    };
    (btf.finish(), encoded)
}

/// `.BTF.ext` with function records only: for each section (its name's offset in the BTF
/// strings), the byte offset of each function in it and its FUNC type id, in order.
pub(super) fn encode_ext(sections: &[(u32, Vec<(u32, u32)>)]) -> Vec<u8> {
    const EXT_HEADER_LEN: u32 = 32;
    const FUNC_INFO_REC_SIZE: u32 = 8;
    let mut info = FUNC_INFO_REC_SIZE.to_le_bytes().to_vec();
    for (name_off, records) in sections {
        for word in [*name_off, records.len() as u32] {
            info.extend_from_slice(&word.to_le_bytes());
        }
        for &(insn_off, type_id) in records {
            info.extend_from_slice(&insn_off.to_le_bytes());
            info.extend_from_slice(&type_id.to_le_bytes());
        }
    }
    let mut out = Vec::new();
    out.extend_from_slice(&BTF_MAGIC.to_le_bytes());
    out.push(BTF_VERSION);
    out.push(0); // flags
    let len = info.len() as u32;
    // hdr_len, func_info (off, len), line_info (off, len), core_relo (off, len).
    for word in [EXT_HEADER_LEN, 0, len, len, 0, len, 0] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    out.extend_from_slice(&info);
    out
}

/// Type and string sections under construction. Type ids start at 1 (0 is `void`).
struct Builder {
    types: Vec<u8>,
    strings: Vec<u8>,
    next_id: u32,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            types: Vec::new(),
            // Offset 0 is the empty name.
            strings: vec![0],
            next_id: 1,
        }
    }
}

impl Builder {
    fn string(&mut self, s: &str) -> u32 {
        let offset = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        offset
    }

    fn words(&mut self, words: &[u32]) {
        for word in words {
            self.types.extend_from_slice(&word.to_le_bytes());
        }
    }

    /// Appends `struct btf_type` and returns the new type's id.
    fn header(&mut self, name_off: u32, kind: u32, vlen: u32, size_or_type: u32) -> u32 {
        self.words(&[name_off, (kind << 24) | vlen, size_or_type]);
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn int(&mut self, name: &str, bytes: u32) -> u32 {
        let name = self.string(name);
        let id = self.header(name, KIND_INT, 0, bytes);
        self.words(&[(INT_SIGNED << 24) | (bytes * 8)]);
        id
    }

    fn ptr(&mut self, target: u32) -> u32 {
        self.header(0, KIND_PTR, 0, target)
    }

    fn array(&mut self, element: u32, index: u32, len: u32) -> u32 {
        let id = self.header(0, KIND_ARRAY, 0, 0);
        self.words(&[element, index, len]);
        id
    }

    /// A struct whose members are all 8-byte pointers, one after another.
    fn anonymous_struct(&mut self, members: &[(&str, u32)]) -> u32 {
        let size = members.len() as u32 * MEMBER_SIZE;
        let id = self.header(0, KIND_STRUCT, members.len() as u32, size);
        for (index, (name, ty)) in members.iter().enumerate() {
            let name = self.string(name);
            let bit_offset = index as u32 * MEMBER_SIZE * 8;
            self.words(&[name, *ty, bit_offset]);
        }
        id
    }

    fn var(&mut self, name: &str, ty: u32) -> u32 {
        let name = self.string(name);
        let id = self.header(name, KIND_VAR, 0, ty);
        self.words(&[VAR_GLOBAL_ALLOCATED]);
        id
    }

    /// `vars` holds (var type id, offset, size) for each variable in the section.
    fn datasec(&mut self, name: &str, size: u32, vars: &[(u32, u32, u32)]) -> u32 {
        let name = self.string(name);
        let id = self.header(name, KIND_DATASEC, vars.len() as u32, size);
        for &(var, offset, size) in vars {
            self.words(&[var, offset, size]);
        }
        id
    }

    fn finish(self) -> Vec<u8> {
        let types_len = self.types.len() as u32;
        let strings_len = self.strings.len() as u32;
        let mut out = Vec::with_capacity((HEADER_LEN + types_len + strings_len) as usize);
        out.extend_from_slice(&BTF_MAGIC.to_le_bytes());
        out.push(BTF_VERSION);
        out.push(0); // flags
        for word in [HEADER_LEN, 0, types_len, types_len, strings_len] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strings);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(bytes: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn header_and_layout() {
        let maps = [
            MapDef {
                name: "counts".into(),
                map_type: 6,
                key_size: 4,
                value_size: 8,
                max_entries: 1,
                flags: 0,
            },
            MapDef {
                name: "events".into(),
                map_type: 27,
                key_size: 0,
                value_size: 0,
                max_entries: 4096,
                flags: 0,
            },
        ];
        let (btf, layout) = encode_maps(&maps);
        assert_eq!(&btf[..4], &[0x9f, 0xeb, 1, 0]);
        assert_eq!(word(&btf, 4), HEADER_LEN);
        let types_len = word(&btf, 12) as usize;
        let strings_len = word(&btf, 20) as usize;
        assert_eq!(btf.len(), 24 + types_len + strings_len);
        // counts: type, key_size, value_size, max_entries; events: type, max_entries.
        assert_eq!(layout.slots, vec![(0, 32), (32, 16)]);
        assert_eq!(layout.section_size, 48);
        let strings = &btf[24 + types_len..];
        assert!(strings.windows(7).any(|w| w == b"events\0"));
        assert!(strings.windows(6).any(|w| w == b".maps\0"));
    }
}
