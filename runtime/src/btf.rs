//! Kernel types from BTF (`/sys/kernel/btf/vmlinux`, and each loaded module's split BTF on top
//! of it), opened on first use: the prototypes of the functions fentry and fexit trace, and C
//! types by name (`struct sock`) as the compiler's type model has them.

use std::cell::OnceCell;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use btf_rs::{Backend, Btf, Type};

use rbt_compiler::kernel::{FieldKind, FunctionProto, TracepointField};
use rbt_compiler::types::{self as rbt, Bitfield, EnumDef, Record};

const BTF_DIR: &str = "/sys/kernel/btf";
const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

/// The kernel's BTF: vmlinux, and the loaded modules' read only when vmlinux lacks a name.
pub struct KernelBtf {
    pub vmlinux: Btf,
    /// (module name, its BTF on top of vmlinux's), in name order.
    modules: OnceCell<Vec<(String, Btf)>>,
}

/// Where a kernel function's BTF is: its module (None: vmlinux), and its BTF type id there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionBtf {
    pub module: Option<String>,
    pub id: u32,
}

impl KernelBtf {
    pub fn open() -> Option<Self> {
        Some(KernelBtf {
            vmlinux: open()?,
            modules: OnceCell::new(),
        })
    }

    fn modules(&self) -> &[(String, Btf)] {
        self.modules.get_or_init(|| open_modules(&self.vmlinux))
    }

    /// The BTF of `module`, None meaning vmlinux.
    fn of(&self, module: Option<&str>) -> Option<&Btf> {
        match module {
            None | Some("vmlinux") => Some(&self.vmlinux),
            Some(m) => self.modules().iter().find(|(n, _)| n == m).map(|(_, b)| b),
        }
    }

    /// Kernel function `name` in `module` (`vmlinux` or a module; None: vmlinux, then the
    /// modules in name order).
    pub fn function(&self, module: Option<&str>, name: &str) -> Option<(FunctionBtf, &Btf)> {
        let found = |module: Option<&str>| {
            let btf = self.of(module)?;
            let module = module.filter(|m| *m != "vmlinux").map(str::to_string);
            let id = own_function_id(btf, name, module.is_some())?;
            Some((FunctionBtf { module, id }, btf))
        };
        match module {
            Some(m) => found(Some(m)),
            None => found(None).or_else(|| {
                self.modules()
                    .iter()
                    .find_map(|(m, _)| found(Some(m.as_str())))
            }),
        }
    }

    /// The prototype of kernel function `name` (see `function`).
    pub fn function_proto(&self, module: Option<&str>, name: &str) -> Option<FunctionProto> {
        let (at, btf) = self.function(module, name)?;
        function_proto_at(btf, at.id, at.module)
    }

    /// The C type called `name`: vmlinux's, else the first module's that defines it.
    pub fn c_type(&self, name: &str) -> Option<rbt::Type> {
        c_type(&self.vmlinux, name)
            .or_else(|| self.modules().iter().find_map(|(_, btf)| c_type(btf, name)))
    }
}

/// Every loaded module's BTF (`/sys/kernel/btf/<module>`), split on top of vmlinux's.
fn open_modules(vmlinux: &Btf) -> Vec<(String, Btf)> {
    let Ok(dir) = std::fs::read_dir(BTF_DIR) else {
        return Vec::new();
    };
    let mut modules: Vec<(String, Btf)> = dir
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            if name == "vmlinux" {
                return None;
            }
            let btf = Btf::from_split_file(e.path(), vmlinux).ok()?;
            Some((name, btf))
        })
        .collect();
    modules.sort_by(|a, b| a.0.cmp(&b.0));
    modules
}

/// The id of FUNC `name` in `btf`; in a module's BTF (`split`), only among its own types.
fn own_function_id(btf: &Btf, name: &str, split: bool) -> Option<u32> {
    let ids = match (split, btf.split()) {
        (true, Some(own)) => own.resolve_ids_by_name(name).ok()?,
        (true, None) => return None,
        (false, _) => btf.resolve_ids_by_name(name).ok()?,
    };
    ids.into_iter()
        .find(|&id| matches!(btf.resolve_type_by_id(id), Ok(Type::Func(_))))
}

/// vmlinux BTF, or None when the kernel has none. The mmap backend opens it in milliseconds;
/// kernels before 6.16 cannot mmap the sysfs file, so it is copied into a memfd first.
pub fn open() -> Option<Btf> {
    Btf::from_file_with_backend(VMLINUX, Backend::Mmap)
        .ok()
        .or_else(open_copy)
}

fn open_copy() -> Option<Btf> {
    let bytes = std::fs::read(VMLINUX).ok()?;
    let copy = memfd_with(&bytes)?;
    let path = format!("/proc/self/fd/{}", copy.as_raw_fd());
    Btf::from_file_with_backend(path, Backend::Mmap).ok()
}

/// An anonymous file holding `bytes`.
fn memfd_with(bytes: &[u8]) -> Option<std::fs::File> {
    use std::io::Write;
    use std::os::fd::FromRawFd;
    // SAFETY: the name is a NUL-terminated string; the fd returned is ours to own.
    let fd = unsafe { libc::memfd_create(c"rbt-btf".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    // SAFETY: fd is a new, valid file descriptor nobody else owns.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    file.write_all(bytes).ok()?;
    Some(file)
}

/// The prototype of vmlinux function `name`, each parameter in its 8-byte slots.
#[cfg(test)]
fn function_proto(btf: &Btf, name: &str) -> Option<FunctionProto> {
    function_proto_at(btf, own_function_id(btf, name, false)?, None)
}

/// The prototype of the FUNC with BTF id `id`, which `module` (None: vmlinux) describes.
fn function_proto_at(btf: &Btf, id: u32, module: Option<String>) -> Option<FunctionProto> {
    let Type::Func(func) = btf.resolve_type_by_id(id).ok()? else {
        return None;
    };
    let Type::FuncProto(proto) = btf.resolve_chained_type(&func).ok()? else {
        return None;
    };
    let mut params = Vec::new();
    let mut offset = 0;
    for p in &proto.parameters {
        if p.is_variadic() {
            // fentry cannot trace a variadic function.
            return None;
        }
        let name = btf.resolve_name(p).ok()?;
        let field = field(btf, name, btf.resolve_chained_type(p).ok()?, offset);
        offset += field.size.div_ceil(8).max(1) * 8;
        params.push(field);
    }
    let ret = match proto.return_type_id() {
        0 => None,
        id => Some(field(
            btf,
            "retval".into(),
            btf.resolve_type_by_id(id).ok()?,
            0,
        )),
    };
    Some(FunctionProto {
        module,
        params,
        ret,
    })
}

/// A value of BTF type `ty` as an `args` field at `offset`.
fn field(btf: &Btf, name: String, ty: Type, offset: u32) -> TracepointField {
    let ty = skip_modifiers(btf, ty);
    let (size, signed, kind) = match &ty {
        Type::Int(i) => (i.size(), i.is_signed(), FieldKind::Int),
        Type::Enum(e) => (e.size(), e.is_signed(), FieldKind::Int),
        Type::Enum64(e) => (e.size(), e.is_signed(), FieldKind::Int),
        Type::Ptr(p) => {
            let to = btf.resolve_chained_type(p).map(|t| skip_modifiers(btf, t));
            let kind = match to {
                Ok(Type::Int(i)) if i.size() == 1 => FieldKind::StrPtr,
                _ => FieldKind::Other,
            };
            (8, false, kind)
        }
        Type::Struct(s) | Type::Union(s) => (s.size(), false, FieldKind::Other),
        _ => (8, false, FieldKind::Other),
    };
    // Pointers (but strings, read with str()) and enums keep their C types.
    let c_type = match (&ty, kind) {
        (Type::Ptr(_), FieldKind::Other) | (Type::Enum(_) | Type::Enum64(_), _) => {
            Some(convert(btf, &ty, 0))
        }
        _ => None,
    };
    TracepointField {
        name,
        offset,
        size: size as u32,
        signed,
        kind,
        ty: c_type,
    }
}

/// The C type called `name` (`struct sock`, `union bpf_attr`, `enum pid_type`, a typedef),
/// as the compiler models it: records complete with what they hold by value, pointers to
/// records by name.
pub fn c_type(btf: &Btf, name: &str) -> Option<rbt::Type> {
    let (keyword, bare) = match name.split_once(' ') {
        Some((k @ ("struct" | "union" | "enum"), rest)) => (Some(k), rest.trim()),
        _ => (None, name),
    };
    let found = btf.resolve_types_by_name(bare).ok()?;
    let t = found.into_iter().find(|t| match (keyword, t) {
        (Some("struct"), Type::Struct(s)) | (Some("union"), Type::Union(s)) => s.size() > 0,
        (Some("enum"), Type::Enum(_) | Type::Enum64(_)) => true,
        (None, Type::Typedef(_)) => true,
        _ => false,
    })?;
    Some(convert(btf, &t, 0))
}

/// A BTF type as an rbt type. `depth` bounds records held by value within records.
fn convert(btf: &Btf, ty: &Type, depth: usize) -> rbt::Type {
    let ty = skip_modifiers(btf, ty.clone());
    match &ty {
        Type::Void => rbt::Type::Void,
        Type::Int(i) if i.is_bool() => rbt::Type::Bool,
        Type::Int(i) => rbt::Type::Int {
            bits: (i.size() * 8).min(64) as u8,
            signed: i.is_signed(),
        },
        Type::Enum(e) => rbt::Type::Enum(Arc::new(EnumDef {
            name: btf.resolve_name(e).unwrap_or_default(),
            size: e.size(),
            signed: e.is_signed(),
            variants: e
                .members
                .iter()
                .map(|m| {
                    let v = if e.is_signed() {
                        i64::from(m.val() as i32)
                    } else {
                        i64::from(m.val())
                    };
                    (btf.resolve_name(m).unwrap_or_default(), v)
                })
                .collect(),
        })),
        Type::Enum64(e) => rbt::Type::Enum(Arc::new(EnumDef {
            name: btf.resolve_name(e).unwrap_or_default(),
            size: e.size(),
            signed: e.is_signed(),
            variants: e
                .members
                .iter()
                .map(|m| (btf.resolve_name(m).unwrap_or_default(), m.val() as i64))
                .collect(),
        })),
        Type::Ptr(p) => {
            let to = btf
                .resolve_chained_type(p)
                .map(|t| skip_modifiers(btf, t))
                .unwrap_or(Type::Void);
            let pointee = match &to {
                Type::Struct(_) | Type::Union(_) | Type::Fwd(_) => match record_name(btf, &to) {
                    Some(name) => rbt::Type::Named(name),
                    None => rbt::Type::Void,
                },
                Type::Ptr(_) | Type::Int(_) | Type::Enum(_) | Type::Enum64(_) => {
                    convert(btf, &to, depth)
                }
                _ => rbt::Type::Void,
            };
            rbt::Type::Ptr(Box::new(pointee))
        }
        Type::Array(a) => {
            let elem = btf
                .resolve_chained_type(a)
                .map(|t| skip_modifiers(btf, t))
                .unwrap_or(Type::Void);
            match &elem {
                // char arrays are strings, as in bpftrace.
                Type::Int(i) if i.is_char() || is_plain_char(btf, &elem) => {
                    rbt::Type::Str { len: a.len() }
                }
                _ => rbt::Type::Array {
                    elem: Box::new(convert(btf, &elem, depth)),
                    len: a.len(),
                },
            }
        }
        Type::Struct(s) | Type::Union(s) if depth < 16 => {
            let name = record_name(btf, &ty).unwrap_or_else(|| "struct (anonymous)".into());
            let mut fields = Vec::new();
            flatten(btf, s, 0, depth, &mut fields);
            let align = fields
                .iter()
                .map(|f| f.ty.c_align())
                .max()
                .unwrap_or(1)
                .min(8);
            rbt::Type::Record(Arc::new(Record {
                name,
                size: s.size(),
                align,
                fields,
            }))
        }
        Type::Struct(s) | Type::Union(s) => rbt::Type::Opaque {
            size: s.size(),
            align: 8,
        },
        Type::Float(f) => rbt::Type::Opaque {
            size: f.size(),
            align: f.size().max(1),
        },
        _ => rbt::Type::Opaque { size: 0, align: 1 },
    }
}

/// `char` (BTF marks it signed but not always as a char): a one-byte integer named char.
fn is_plain_char(btf: &Btf, t: &Type) -> bool {
    matches!(t, Type::Int(i) if i.size() == 1 && btf.resolve_name(i).is_ok_and(|n| n == "char"))
}

/// The members of a struct or union at `base` bytes, anonymous members' fields in place.
fn flatten(btf: &Btf, s: &btf_rs::Struct, base: usize, depth: usize, fields: &mut Vec<rbt::Field>) {
    for m in &s.members {
        let Ok(ty) = btf.resolve_chained_type(m) else {
            continue;
        };
        let name = btf.resolve_name(m).unwrap_or_default();
        let bit_offset = m.bit_offset() as usize;
        if name.is_empty() {
            if let Type::Struct(inner) | Type::Union(inner) = skip_modifiers(btf, ty) {
                flatten(btf, &inner, base + bit_offset / 8, depth, fields);
            }
            continue;
        }
        let (offset, bitfield) = match m.bitfield_size() {
            Some(bits) if bits > 0 => (
                base + bit_offset / 8,
                Some(Bitfield {
                    shift: (bit_offset % 8) as u32,
                    bits,
                }),
            ),
            _ => (base + bit_offset / 8, None),
        };
        fields.push(rbt::Field {
            name,
            offset,
            ty: convert(btf, &ty, depth + 1),
            bitfield,
        });
    }
}

/// `struct NAME` or `union NAME` of a record type, None for an anonymous one.
fn record_name(btf: &Btf, t: &Type) -> Option<String> {
    let (keyword, name) = match t {
        Type::Struct(s) => ("struct", btf.resolve_name(s).ok()?),
        Type::Union(s) => ("union", btf.resolve_name(s).ok()?),
        Type::Fwd(f) => (
            if f.is_union() { "union" } else { "struct" },
            btf.resolve_name(f).ok()?,
        ),
        _ => return None,
    };
    (!name.is_empty()).then(|| format!("{keyword} {name}"))
}

/// The type under typedefs, const, volatile, restrict and type tags.
fn skip_modifiers(btf: &Btf, mut ty: Type) -> Type {
    for _ in 0..32 {
        let next = match &ty {
            Type::Typedef(t) => btf.resolve_chained_type(t),
            Type::Const(t) | Type::Volatile(t) | Type::Restrict(t) => btf.resolve_chained_type(t),
            Type::TypeTag(t) => btf.resolve_chained_type(t),
            _ => return ty,
        };
        match next {
            Ok(t) => ty = t,
            Err(_) => return ty,
        }
    }
    ty
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against this machine's own kernel, where it has BTF.
    #[test]
    fn prototypes_of_kernel_functions() {
        let Some(btf) = open() else {
            eprintln!("no vmlinux BTF: skipped");
            return;
        };
        // int tcp_v4_connect(struct sock *sk, struct sockaddr *uaddr, int addr_len)
        let p = function_proto(&btf, "tcp_v4_connect").expect("tcp_v4_connect");
        let names: Vec<&str> = p.params.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["sk", "uaddr", "addr_len"]);
        assert_eq!(p.params[2].offset, 16);
        assert_eq!((p.params[2].size, p.params[2].signed), (4, true));
        assert_eq!(p.params[0].kind, FieldKind::Other);
        let ret = p.ret.clone().expect("returns int");
        assert_eq!((ret.size, ret.signed), (4, true));
        assert_eq!(p.ret_offset(), 24);
        // void function; a `const char *` parameter reads as a string pointer.
        let p = function_proto(&btf, "getname_kernel").expect("getname_kernel");
        assert_eq!(p.params[0].kind, FieldKind::StrPtr);
        assert!(function_proto(&btf, "no_such_function_here").is_none());
        // Kernel structs: anonymous members flattened, pointers to records by name, char
        // arrays as strings.
        let Some(rbt::Type::Record(sock)) = c_type(&btf, "struct sock") else {
            panic!("struct sock")
        };
        let common = sock.field("__sk_common").expect("__sk_common");
        assert_eq!(common.offset, 0);
        let rbt::Type::Record(common) = &common.ty else {
            panic!("sock_common by value")
        };
        // In an anonymous struct in an anonymous union of struct sock_common.
        let dport = common.field("skc_dport").expect("skc_dport");
        assert_eq!(dport.offset, 12);
        assert_eq!(
            dport.ty,
            rbt::Type::Int {
                bits: 16,
                signed: false
            }
        );
        let Some(rbt::Type::Record(task)) = c_type(&btf, "struct task_struct") else {
            panic!("struct task_struct")
        };
        assert_eq!(
            task.field("real_parent").unwrap().ty,
            rbt::Type::Ptr(Box::new(rbt::Type::Named("struct task_struct".into())))
        );
        assert_eq!(task.field("comm").unwrap().ty, rbt::Type::Str { len: 16 });
        assert!(c_type(&btf, "struct no_such_struct_here").is_none());
        // The way older kernels are read.
        let copy = open_copy().expect("vmlinux BTF through a memfd");
        assert_eq!(
            function_proto(&copy, "tcp_v4_connect"),
            function_proto(&btf, "tcp_v4_connect")
        );
    }
}
