//! C types by name: the one place where `struct Foo`, `enum Bar`, typedefs and constants are
//! looked up. Two sources fill it: the script's own C definitions (parsed here, laid out by
//! C's rules in `ctypes/layout.rs`) and the kernel (`Kernel::c_type`, from BTF), asked only
//! for what the script does not define; what the kernel answered is kept.

mod layout;
mod parse;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::ast::{CDefinition, TypeName};
use crate::diag::Diagnostic;
use crate::kernel::Kernel;
use crate::types::{Record, Type};

/// A named integer: an enum's value or a `#define`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Constant {
    pub value: i64,
    /// `Type::Enum` for an enum's value, else `int64`.
    pub ty: Type,
}

#[derive(Clone, Debug, Default)]
pub struct CTypes {
    /// By name with its keyword: `struct Foo`, `union N`, `enum E`, or a typedef's name.
    types: HashMap<String, Type>,
    constants: HashMap<String, Constant>,
    /// The names of `types` whose answer came from the kernel's BTF.
    from_kernel: HashSet<String>,
}

impl CTypes {
    /// The types and constants the script's C definitions define, in order.
    pub fn from_script(definitions: &[CDefinition]) -> Result<CTypes, Vec<Diagnostic>> {
        let mut ctypes = CTypes::default();
        let mut errors = Vec::new();
        for d in definitions {
            if let Err(e) = parse::definition(&d.text, d.span.start, &mut ctypes) {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(ctypes)
        } else {
            Err(errors)
        }
    }

    /// The type called `name` (`struct Foo`, `enum E`, a typedef): the script's, else the
    /// kernel's (kept for later lookups and for the lowering, which has no kernel).
    pub fn lookup(&mut self, name: &str, kernel: &dyn Kernel) -> Option<Type> {
        if let Some(t) = self.types.get(name) {
            return Some(t.clone());
        }
        let t = kernel.c_type(name)?;
        self.types.insert(name.to_string(), t.clone());
        self.from_kernel.insert(name.to_string());
        Some(t)
    }

    /// Whether the type called `name` is the kernel's (BTF), not the script's: only then does
    /// the verifier know its layout.
    pub fn is_kernel_type(&self, name: &str) -> bool {
        self.from_kernel.contains(name)
    }

    /// A type already looked up (the lowering's view).
    pub fn known(&self, name: &str) -> Option<&Type> {
        self.types.get(name)
    }

    /// The record a `Type::Named` names, if it is known (a struct or union).
    pub fn record(&mut self, name: &str, kernel: &dyn Kernel) -> Option<Arc<Record>> {
        match self.lookup(name, kernel)? {
            Type::Record(r) => Some(r),
            _ => None,
        }
    }

    /// Bytes a pointer of type `ptr` moves per step (1 for `void *`); its pointee was looked up
    /// when the script was checked.
    pub fn stride(&self, ptr: &Type) -> i64 {
        match ptr {
            Type::Ptr(p) => match &**p {
                Type::Named(name) => match self.known(name) {
                    Some(t) => t.c_size() as i64,
                    None => panic!("bug: {name} was not looked up"),
                },
                Type::Void => 1,
                t => t.c_size() as i64,
            },
            _ => 1,
        }
    }

    /// The constant called `name`: the script's, else the kernel's (kept).
    pub fn constant(&mut self, name: &str, kernel: &dyn Kernel) -> Option<Constant> {
        if let Some(c) = self.constants.get(name) {
            return Some(c.clone());
        }
        let c = kernel.c_constant(name)?;
        self.constants.insert(name.to_string(), c.clone());
        Some(c)
    }

    /// The type a cast, `sizeof` or `offsetof` names; Err says what is unknown.
    pub fn resolve(&mut self, name: &TypeName, kernel: &dyn Kernel) -> Result<Type, String> {
        let mut t = match builtin(&name.base) {
            Some(t) => t,
            None if is_record_name(&name.base) && name.pointers > 0 => {
                // A pointer may name a record that is only looked up when dereferenced, but an
                // unknown one is a typo more often than not.
                match self.lookup(&name.base, kernel) {
                    Some(Type::Record(_)) => Type::Named(name.base.clone()),
                    Some(other) => other,
                    None => return Err(format!("unknown type `{}`", name.base)),
                }
            }
            None => self
                .lookup(&name.base, kernel)
                .ok_or_else(|| format!("unknown type `{}`", name.base))?,
        };
        for _ in 0..name.pointers {
            t = pointer_to(t);
        }
        for len in name.arrays.iter().rev() {
            t = Type::Array {
                elem: Box::new(t),
                len: len.unwrap_or(0),
            };
        }
        Ok(t)
    }

    fn define_type(&mut self, name: String, t: Type) {
        self.types.insert(name, t);
    }

    fn define_constant(&mut self, name: String, c: Constant) {
        self.constants.insert(name, c);
    }
}

fn is_record_name(name: &str) -> bool {
    name.starts_with("struct ") || name.starts_with("union ")
}

/// A pointer to `t`: records are pointed to by name (`Type::Named`), so a record can hold a
/// pointer to itself.
pub fn pointer_to(t: Type) -> Type {
    match t {
        Type::Record(r) => Type::Ptr(Box::new(Type::Named(r.name.clone()))),
        t => Type::Ptr(Box::new(t)),
    }
}

/// The integer and other scalar types C and bpftrace name without a definition: `int`,
/// `unsigned long`, `uint8`, `u8`, `uint8_t`, `__u8`, `s32`, `size_t`, `bool`, `void`...
pub fn builtin(name: &str) -> Option<Type> {
    let int = |bits: u8, signed: bool| Some(Type::Int { bits, signed });
    let sized = name
        .strip_suffix("_t")
        .unwrap_or(name)
        .trim_start_matches("__");
    for (prefix, signed) in [("uint", false), ("int", true), ("u", false), ("s", true)] {
        if let Some(bits) = sized.strip_prefix(prefix)
            && let Ok(bits @ (8 | 16 | 32 | 64)) = bits.parse::<u8>()
        {
            return int(bits, signed);
        }
    }
    match name {
        "bool" | "_Bool" => return Some(Type::Bool),
        "void" => return Some(Type::Void),
        "float" => return Some(Type::Opaque { size: 4, align: 4 }),
        "double" => return Some(Type::Opaque { size: 8, align: 8 }),
        "size_t" | "uintptr_t" => return int(64, false),
        "ssize_t" | "intptr_t" => return int(64, true),
        "pid_t" => return int(32, true),
        _ => {}
    }
    // C's words in any order: `unsigned long long int`, `short`, `char`, `signed`.
    let (mut unsigned, mut long, mut short, mut char) = (false, false, false, false);
    for word in name.split(' ') {
        match word {
            "unsigned" => unsigned = true,
            "long" => long = true,
            "short" => short = true,
            "char" => char = true,
            "signed" | "int" => {}
            _ => return None,
        }
    }
    let bits = match (char, short, long) {
        (true, _, _) => 8,
        (_, true, _) => 16,
        (_, _, true) => 64,
        _ => 32,
    };
    int(bits, !unsigned)
}
