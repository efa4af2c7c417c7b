//! What the compiler needs to know about the kernel it compiles for. The runtime implements
//! `Kernel` from tracefs; tests implement it with fixed data.

/// One field of a tracepoint's `args`, from its tracefs `format` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TracepointField {
    pub name: String,
    pub offset: u32,
    pub size: u32,
    pub signed: bool,
    pub kind: FieldKind,
    /// Its C type, when the kernel says (BTF: a pointer to `struct sock`, an enum); else the
    /// type follows from `kind`, `size` and `signed`.
    pub ty: Option<crate::types::Type>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    Int,
    /// `char name[N]`: an inline string of `size` bytes.
    CharArray,
    /// `__data_loc char[] name`: a u32 holding offset (low 16 bits) and length (high 16 bits)
    /// of a string stored in the record.
    DataLocStr,
    /// A pointer to a string (`const char * filename`): read with `str()`.
    StrPtr,
    /// A pointer or other field that is read as an unsigned integer.
    Other,
}

/// A kernel function that can be traced: its name and the module it lives in (None: vmlinux).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelFunction {
    pub name: String,
    pub module: Option<String>,
}

/// A kernel function's prototype, from BTF: what fentry/fexit programs find in their context,
/// where each parameter takes an 8-byte slot and fexit's return value follows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionProto {
    /// The module whose BTF describes the function (None: vmlinux).
    pub module: Option<String>,
    /// The parameters as `args` fields (offset: slot × 8).
    pub params: Vec<TracepointField>,
    /// None for a void function.
    pub ret: Option<TracepointField>,
}

impl FunctionProto {
    /// Where fexit finds the return value: the slot after the last parameter.
    pub fn ret_offset(&self) -> u32 {
        self.params
            .last()
            .map_or(0, |p| p.offset + p.size.div_ceil(8) * 8)
    }
}

pub trait Kernel {
    /// The fields of tracepoint `category:name`, or None if there is no such tracepoint.
    fn tracepoint_fields(&self, category: &str, name: &str) -> Option<Vec<TracepointField>>;
    /// Every tracepoint as (category, name), for wildcards and suggestions.
    fn tracepoints(&self) -> Vec<(String, String)>;
    /// A C type the kernel defines (from its BTF), by name: `struct sock`, `union bpf_attr`,
    /// `enum pid_type`, or a typedef such as `u32`. A struct or union is a `Type::Record` with
    /// every record it holds by value complete, and pointers to records as
    /// `Type::Ptr(Type::Named("struct task_struct"))` (looked up again when dereferenced).
    /// None when unknown; `ctypes::CTypes` asks only for names the script does not define.
    fn c_type(&self, _name: &str) -> Option<crate::types::Type> {
        None
    }
    /// The address of a kernel symbol (from kallsyms), for `kaddr`; None when unknown.
    fn symbol_address(&self, _name: &str) -> Option<u64> {
        None
    }
    /// The functions kprobes may attach to, each once, for wildcards and suggestions; empty
    /// when the kernel does not say.
    fn kernel_functions(&self) -> &[KernelFunction];
    /// The BTF prototype of kernel function `function` in `module` (`vmlinux` or a module's
    /// name; None: wherever it is, vmlinux first), or None when the kernel has no BTF for it.
    fn function_proto(&self, module: Option<&str>, function: &str) -> Option<FunctionProto>;
    /// Whether kprobes can attach; when not, a kprobe on a function with BTF becomes fentry.
    fn has_kprobes(&self) -> bool;
    /// A named constant the kernel defines: an enum's value (`TCP_ESTABLISHED`), with its
    /// `Type::Enum` so that it prints by name. Asked only for names the script does not define.
    fn c_constant(&self, _name: &str) -> Option<crate::ctypes::Constant> {
        None
    }
}
