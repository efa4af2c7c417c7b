//! The types of rbt values and how each is laid out in map keys, map values and event records.
//!
//! C types (structs, unions, arrays, pointers, enums) keep C's layout inside their bytes
//! (`c_size`, `c_align`); as a whole value they take `size()` bytes, rounded up to 8 like every
//! other value. Records come from the script's C definitions or from the kernel (`ctypes`).

use std::fmt;
use std::sync::Arc;

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
    /// A pointer; held as a 64-bit integer. Arithmetic on it moves by the pointee's size.
    Ptr(Box<Type>),
    /// `elem[len]`: `len` elements laid out `elem.c_size()` apart.
    Array {
        elem: Box<Type>,
        len: usize,
    },
    /// A struct or union value, its fields at their C offsets.
    Record(Arc<Record>),
    /// A struct or union known by name only (`struct task_struct`): what a pointer points to,
    /// looked up (`ctypes::CTypes::record`) when it is dereferenced. Pointers always name
    /// their records this way, so that a record may point to itself.
    Named(String),
    /// An integer of an enum type: printed by the name of its value when it has one.
    Enum(Arc<EnumDef>),
    /// A C type rbt cannot compute with (`float`, `double`): its bytes are kept, its value is not.
    Opaque {
        size: usize,
        align: usize,
    },
    /// `buf(ptr, len)`: a u64 count of bytes held, then `len` bytes (zero-padded).
    Buf {
        len: usize,
    },
    /// A value the kernel records as numbers and user space prints as text (a stack, a
    /// symbol, an address, a time).
    Rendered(Render),
    /// The tracepoint `args` record: usable only through its fields.
    Args,
    /// `retval`'s declared type: sema replaces it with the traced function's return type.
    Return,
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

    pub const I32: Type = Type::Int {
        bits: 32,
        signed: true,
    };

    /// Whether the value is held in a register: integers, booleans, pointers, enums.
    pub fn is_int(&self) -> bool {
        matches!(
            self,
            Type::Int { .. } | Type::Bool | Type::Ptr(_) | Type::Enum(_)
        )
    }

    pub fn is_signed(&self) -> bool {
        match self {
            Type::Int { signed, .. } => *signed,
            Type::Enum(e) => e.signed,
            _ => false,
        }
    }

    /// Bytes the type takes inside a C struct or array (what `sizeof` says).
    pub fn c_size(&self) -> usize {
        match self {
            Type::Int { bits, .. } => usize::from(*bits).div_ceil(8),
            Type::Bool => 1,
            Type::Str { len } => *len,
            Type::Ptr(_) => 8,
            Type::Array { elem, len } => elem.c_size() * len,
            Type::Record(r) => r.size,
            Type::Enum(e) => e.size,
            Type::Opaque { size, .. } => *size,
            Type::Tuple(fields) => c_layout(fields).1,
            Type::Buf { .. } | Type::Rendered(_) => self.size(),
            Type::Named(_) | Type::Args | Type::Void | Type::Return => 0,
        }
    }

    /// C's alignment of the type.
    pub fn c_align(&self) -> usize {
        match self {
            Type::Array { elem, .. } => elem.c_align(),
            Type::Record(r) => r.align,
            Type::Opaque { align, .. } => *align,
            Type::Tuple(fields) => fields.iter().map(Type::c_align).max().unwrap_or(1),
            Type::Str { .. } => 1,
            Type::Buf { .. } | Type::Rendered(_) => 8,
            t => t.c_size().max(1),
        }
    }

    /// Bytes the value takes in a map key, map value or event record (a multiple of 8, so that
    /// every field stays 8-byte aligned).
    pub fn size(&self) -> usize {
        match self {
            Type::Int { .. } | Type::Bool | Type::Ptr(_) | Type::Enum(_) => 8,
            Type::Str { len } => len.div_ceil(8) * 8,
            Type::Tuple(fields) => fields.iter().map(Type::size).sum(),
            Type::Array { .. } | Type::Record(_) | Type::Opaque { .. } => {
                self.c_size().div_ceil(8) * 8
            }
            Type::Named(_) | Type::Args | Type::Void | Type::Return => 0,
            Type::Buf { len } => 8 + len.div_ceil(8) * 8,
            Type::Rendered(r) => r.size(),
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
            (Type::Buf { len: a }, Type::Buf { len: b }) => Type::Buf { len: *a.max(b) },
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
            (a, b) if a == b => true,
            (Type::Buf { .. }, Type::Buf { .. }) => true,
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
            Type::Ptr(t) => match **t {
                Type::Ptr(_) => write!(f, "{t}*"),
                Type::Void => write!(f, "void *"),
                _ => write!(f, "{t} *"),
            },
            Type::Array { .. } => {
                let mut t = self;
                let mut dims = String::new();
                while let Type::Array { elem, len } = t {
                    dims += &format!("[{len}]");
                    t = elem;
                }
                write!(f, "{t}{dims}")
            }
            Type::Record(r) => write!(f, "{}", r.name),
            Type::Named(name) => write!(f, "{name}"),
            Type::Enum(e) => write!(f, "enum {}", e.name),
            Type::Opaque { .. } => write!(f, "(unsupported C type)"),
            Type::Buf { len } => write!(f, "buffer[{len}]"),
            Type::Rendered(r) => write!(f, "{}", r.name()),
            Type::Args => write!(f, "args"),
            Type::Return => write!(f, "retval"),
            Type::Void => write!(f, "none"),
        }
    }
}

/// C's layout of consecutive fields (a tuple's, as `sizeof` measures it): offsets and size.
pub fn c_layout(fields: &[Type]) -> (Vec<usize>, usize) {
    let mut offset = 0usize;
    let mut align = 1usize;
    let offsets = fields
        .iter()
        .map(|f| {
            let a = f.c_align();
            align = align.max(a);
            offset = offset.div_ceil(a) * a;
            let here = offset;
            offset += f.c_size();
            here
        })
        .collect();
    (offsets, offset.div_ceil(align) * align)
}

/// A struct or union with its C layout.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Record {
    /// `struct Foo`, `union N`; anonymous ones are named after where they are defined.
    pub name: String,
    pub size: usize,
    pub align: usize,
    pub fields: Vec<Field>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Field {
    pub name: String,
    /// Byte offset in the record (of the storage unit that holds a bitfield).
    pub offset: usize,
    pub ty: Type,
    pub bitfield: Option<Bitfield>,
}

/// A bitfield's bits, counted from the least significant bit of the bytes from `Field::offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Bitfield {
    pub shift: u32,
    pub bits: u32,
}

impl Record {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// An enum: its values' names, and the integer type that holds it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EnumDef {
    /// Without `enum `; empty for an anonymous enum.
    pub name: String,
    pub size: usize,
    pub signed: bool,
    pub variants: Vec<(String, i64)>,
}

impl EnumDef {
    /// The name of value `v`, if one has it.
    pub fn name_of(&self, v: i64) -> Option<&str> {
        self.variants
            .iter()
            .find(|(_, x)| *x == v)
            .map(|(n, _)| n.as_str())
    }
}

/// How `ustack`/`kstack` print their frames, as bpftrace's stack modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StackMode {
    /// `func+off`, one frame a line, indented.
    Bpftrace,
    /// A tab, the address in hex, `func+off (module)`.
    Perf,
    /// The address in hex only.
    Raw,
    /// The module's build id and the offset in it.
    BuildId,
}

impl StackMode {
    /// The mode a script names: `ustack(perf)`, `BPFTRACE_STACK_MODE=raw`.
    pub fn named(name: &str) -> Option<StackMode> {
        match name {
            "bpftrace" => Some(StackMode::Bpftrace),
            "perf" => Some(StackMode::Perf),
            "raw" => Some(StackMode::Raw),
            "build_id" => Some(StackMode::BuildId),
            _ => None,
        }
    }
}

/// How `tseries` combines the values recorded in one interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TseriesAgg {
    /// The value recorded last (bpftrace's default).
    #[default]
    Last,
    Avg,
    Max,
    Min,
    Sum,
}

impl TseriesAgg {
    /// The function a script names as tseries' fourth argument.
    pub fn named(name: &str) -> Option<TseriesAgg> {
        match name {
            "avg" => Some(TseriesAgg::Avg),
            "max" => Some(TseriesAgg::Max),
            "min" => Some(TseriesAgg::Min),
            "sum" => Some(TseriesAgg::Sum),
            _ => None,
        }
    }
}

/// The values user space renders; the kernel stores the numbers in the layout `size` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Render {
    /// A stack id in the stack-trace map (then, for user stacks, the pid whose memory it is).
    Stack {
        user: bool,
        mode: StackMode,
        /// The most frames printed.
        limit: u8,
    },
    /// An address printed as its symbol (then, for user addresses, the pid).
    Sym { user: bool },
    /// An address family, then 16 bytes of IPv4 or IPv6 address.
    Inet,
    /// An errno value, printed as strerror(3) words.
    Errno,
    /// A signal number, printed by its description.
    SignalName,
    /// A cgroup id, printed as its path.
    CgroupPath,
    /// A user id, printed as its name.
    Username,
    /// Nanoseconds since boot, printed in the strftime(3) format `Tables::time_formats[format]`.
    Time { format: u32 },
}

impl Render {
    pub fn size(&self) -> usize {
        match self {
            Render::Stack { user: true, .. } | Render::Sym { user: true } => 16,
            Render::Inet => 24,
            _ => 8,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Render::Stack { user: true, .. } => "ustack",
            Render::Stack { user: false, .. } => "kstack",
            Render::Sym { user: true } => "usym",
            Render::Sym { user: false } => "ksym",
            Render::Inet => "inet",
            Render::Errno => "strerror",
            Render::SignalName => "signal_name",
            Render::CgroupPath => "cgroup_path",
            Render::Username => "username",
            Render::Time { .. } => "timestamp",
        }
    }
}
