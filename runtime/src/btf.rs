//! Kernel types from BTF (`/sys/kernel/btf/vmlinux`), opened on first use: the prototypes of
//! the functions fentry and fexit trace.

use std::os::fd::AsRawFd;

use btf_rs::{Backend, Btf, Type};

use rbt_compiler::kernel::{FieldKind, FunctionProto, TracepointField};

const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

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

/// The prototype of kernel function `name`, each parameter in its 8-byte slots.
pub fn function_proto(btf: &Btf, name: &str) -> Option<FunctionProto> {
    let func = btf
        .resolve_types_by_name(name)
        .ok()?
        .into_iter()
        .find_map(|t| match t {
            Type::Func(f) => Some(f),
            _ => None,
        })?;
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
    Some(FunctionProto { params, ret })
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
    TracepointField {
        name,
        offset,
        size: size as u32,
        signed,
        kind,
    }
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
        // The way older kernels are read.
        let copy = open_copy().expect("vmlinux BTF through a memfd");
        assert_eq!(
            function_proto(&copy, "tcp_v4_connect"),
            function_proto(&btf, "tcp_v4_connect")
        );
    }
}
