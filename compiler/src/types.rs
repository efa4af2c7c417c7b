//! The types of rbt values and how each is laid out in map keys, map values and event records.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    /// An integer; held as 64 bits in registers, 8 bytes in maps and events.
    Int {
        bits: u8,
        signed: bool,
    },
    Bool,
    /// A NUL-padded string buffer of `len` bytes.
    Str {
        len: usize,
    },
    Tuple(Vec<Type>),
    /// The tracepoint `args` record: usable only through its fields.
    Args,
    /// The result of a statement-like call (`printf`, `exit`).
    Void,
}

impl Type {
    pub const U64: Type = Type::Int {
        bits: 64,
        signed: false,
    };
    pub const I64: Type = Type::Int {
        bits: 64,
        signed: true,
    };
    pub const U32: Type = Type::Int {
        bits: 32,
        signed: false,
    };

    pub fn is_int(&self) -> bool {
        matches!(self, Type::Int { .. } | Type::Bool)
    }

    pub fn is_signed(&self) -> bool {
        matches!(self, Type::Int { signed: true, .. })
    }

    /// Bytes the value takes in a map key, map value or event record (a multiple of 8, so that
    /// every field stays 8-byte aligned).
    pub fn size(&self) -> usize {
        match self {
            Type::Int { .. } | Type::Bool => 8,
            Type::Str { len } => len.div_ceil(8) * 8,
            Type::Tuple(fields) => fields.iter().map(Type::size).sum(),
            Type::Args | Type::Void => 0,
        }
    }

    /// Offsets of a tuple's fields.
    pub fn field_offsets(fields: &[Type]) -> Vec<usize> {
        let mut offset = 0;
        fields
            .iter()
            .map(|f| {
                let here = offset;
                offset += f.size();
                here
            })
            .collect()
    }

    /// The type that holds both `self` and `other` (which it `accepts`): strings as long as the
    /// longer one, tuples field by field; integers keep the first type.
    pub fn widen(&self, other: &Type) -> Type {
        match (self, other) {
            (Type::Str { len: a }, Type::Str { len: b }) => Type::Str { len: *a.max(b) },
            (Type::Tuple(a), Type::Tuple(b)) => {
                Type::Tuple(a.iter().zip(b).map(|(x, y)| x.widen(y)).collect())
            }
            (a, _) => a.clone(),
        }
    }

    /// Whether a value of type `other` can be stored where `self` was fixed: integers mix with
    /// integers, strings with strings (truncated or padded), tuples field by field.
    pub fn accepts(&self, other: &Type) -> bool {
        match (self, other) {
            (a, b) if a.is_int() && b.is_int() => true,
            (Type::Str { .. }, Type::Str { .. }) => true,
            (Type::Tuple(a), Type::Tuple(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.accepts(y))
            }
            _ => false,
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Int { bits, signed } => {
                write!(f, "{}int{bits}", if *signed { "" } else { "u" })
            }
            Type::Bool => write!(f, "bool"),
            Type::Str { len } => write!(f, "string[{len}]"),
            Type::Tuple(fields) => {
                write!(f, "(")?;
                for (i, t) in fields.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{t}")?;
                }
                write!(f, ")")
            }
            Type::Args => write!(f, "args"),
            Type::Void => write!(f, "none"),
        }
    }
}
