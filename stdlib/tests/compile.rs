//! The compiler with the real catalogue against a fake kernel: eBPF listings, one case per
//! lowering rule (`codegen/*.rbt` → `.bpf`), and rendered type errors (`errors/*.rbt` →
//! `.txt`). `BLESS=1 cargo test` rewrites the expected files after a deliberate change.

use std::path::Path;

use rbt_compiler::diag;
use rbt_compiler::kernel::{FieldKind, FunctionProto, Kernel, KernelFunction, TracepointField};
use rbt_compiler::sema::Options;
use rbt_compiler::types::{Field, Record, Type};
use std::sync::Arc;

/// A few tracepoints with the layouts they have on x86-64.
struct FakeKernel;

fn field(name: &str, offset: u32, size: u32, signed: bool, kind: FieldKind) -> TracepointField {
    TracepointField {
        name: name.into(),
        offset,
        size,
        signed,
        kind,
        ty: None,
    }
}

impl Kernel for FakeKernel {
    fn tracepoint_fields(&self, category: &str, name: &str) -> Option<Vec<TracepointField>> {
        let common = vec![
            field("common_type", 0, 2, false, FieldKind::Int),
            field("common_pid", 4, 4, true, FieldKind::Int),
        ];
        let specific = match (category, name) {
            ("syscalls", "sys_enter_getpid") => {
                vec![field("__syscall_nr", 8, 4, true, FieldKind::Int)]
            }
            ("syscalls", "sys_enter_openat") => vec![
                field("__syscall_nr", 8, 4, true, FieldKind::Int),
                field("dfd", 16, 8, false, FieldKind::Int),
                field("filename", 24, 8, false, FieldKind::StrPtr),
                field("flags", 32, 8, false, FieldKind::Int),
            ],
            ("syscalls", "sys_exit_read") => {
                vec![
                    field("__syscall_nr", 8, 4, true, FieldKind::Int),
                    field("ret", 16, 8, true, FieldKind::Int),
                ]
            }
            ("sched", "sched_switch") => vec![
                field("prev_comm", 8, 16, false, FieldKind::CharArray),
                field("prev_pid", 24, 4, true, FieldKind::Int),
                field("next_pid", 56, 4, true, FieldKind::Int),
            ],
            ("sched", "sched_process_exec") => {
                vec![field("filename", 8, 4, false, FieldKind::DataLocStr)]
            }
            _ => return None,
        };
        Some(common.into_iter().chain(specific).collect())
    }

    fn function_proto(&self, module: Option<&str>, function: &str) -> Option<FunctionProto> {
        let int = |name: &str, offset| field(name, offset, 4, true, FieldKind::Int);
        let ptr = |name: &str, offset| field(name, offset, 8, false, FieldKind::Other);
        let sock = |name: &str, offset| TracepointField {
            ty: Some(Type::Ptr(Box::new(Type::Named("struct sock".into())))),
            ..ptr(name, offset)
        };
        let in_vmlinux = matches!(module, None | Some("vmlinux"));
        match function {
            // int veth_open(struct net_device *dev), in module veth.
            "veth_open" if module.is_none_or(|m| m == "veth") => Some(FunctionProto {
                module: Some("veth".into()),
                params: vec![ptr("dev", 0)],
                ret: Some(int("retval", 0)),
            }),
            _ if !in_vmlinux => None,
            // int tcp_connect(struct sock *sk)
            "tcp_connect" => Some(FunctionProto {
                module: None,
                params: vec![sock("sk", 0)],
                ret: Some(int("retval", 0)),
            }),
            // void tcp_close(struct sock *sk, long timeout)
            "tcp_close" => Some(FunctionProto {
                module: None,
                params: vec![ptr("sk", 0), field("timeout", 8, 8, true, FieldKind::Int)],
                ret: None,
            }),
            // ssize_t vfs_read(struct file *file, char *buf, size_t count, loff_t *pos)
            "vfs_read" => Some(FunctionProto {
                module: None,
                params: vec![
                    ptr("file", 0),
                    field("buf", 8, 8, false, FieldKind::StrPtr),
                    field("count", 16, 8, false, FieldKind::Int),
                    ptr("pos", 24),
                ],
                ret: Some(field("retval", 0, 8, true, FieldKind::Int)),
            }),
            _ => None,
        }
    }

    /// `struct sock` as BTF has it, cut down: `__sk_common` by value (its anonymous unions
    /// flattened, first members first), its addresses and ports, and `sk_socket`, which
    /// points back to the sock.
    fn c_type(&self, name: &str) -> Option<Type> {
        let field = |name: &str, offset, ty| Field {
            name: name.into(),
            offset,
            ty,
            bitfield: None,
        };
        let record = |name: &str, size, fields| {
            Type::Record(Arc::new(Record {
                name: name.into(),
                size,
                align: 8,
                fields,
            }))
        };
        let u = |bits| Type::Int {
            bits,
            signed: false,
        };
        let array = |elem, len| Type::Array {
            elem: Box::new(elem),
            len,
        };
        let in6_u = record(
            "union (anonymous)",
            16,
            vec![
                field("u6_addr8", 0, array(u(8), 16)),
                field("u6_addr16", 0, array(u(16), 8)),
                field("u6_addr32", 0, array(u(32), 4)),
            ],
        );
        let in6_addr = record("struct in6_addr", 16, vec![field("in6_u", 0, in6_u)]);
        let common = record(
            "struct sock_common",
            136,
            vec![
                field("skc_addrpair", 0, u(64)),
                field("skc_daddr", 0, u(32)),
                field("skc_rcv_saddr", 4, u(32)),
                field("skc_portpair", 12, u(32)),
                field("skc_dport", 12, u(16)),
                field("skc_num", 14, u(16)),
                field("skc_v6_daddr", 56, in6_addr),
            ],
        );
        let ptr = |name: &str| Type::Ptr(Box::new(Type::Named(name.into())));
        match name {
            "struct sock" => Some(record(
                "struct sock",
                760,
                vec![
                    field("__sk_common", 0, common),
                    field("sk_socket", 640, ptr("struct socket")),
                ],
            )),
            "struct socket" => Some(record(
                "struct socket",
                128,
                vec![
                    field(
                        "type",
                        4,
                        Type::Int {
                            bits: 16,
                            signed: true,
                        },
                    ),
                    field("sk", 24, ptr("struct sock")),
                ],
            )),
            // Pointing to itself by name, as records in BTF do.
            "struct task_struct" => Some(record(
                "struct task_struct",
                2560,
                vec![
                    field("pid", 1496, Type::I32),
                    field("comm", 1992, Type::Str { len: 16 }),
                    field(
                        "real_parent",
                        1512,
                        Type::Ptr(Box::new(Type::Named("struct task_struct".into()))),
                    ),
                ],
            )),
            _ => None,
        }
    }

    fn has_kprobes(&self) -> bool {
        true
    }

    fn kernel_functions(&self) -> &[KernelFunction] {
        static FUNCTIONS: std::sync::OnceLock<Vec<KernelFunction>> = std::sync::OnceLock::new();
        FUNCTIONS.get_or_init(|| {
            let vmlinux = [
                "tcp_connect",
                "tcp_close",
                "tcp_sendmsg",
                "vfs_read",
                "vfs_write",
            ];
            let veth = ["veth_open", "veth_close"];
            let function = |module: Option<&str>, name: &str| KernelFunction {
                name: name.to_string(),
                module: module.map(str::to_string),
            };
            vmlinux
                .iter()
                .map(|n| function(None, n))
                .chain(veth.iter().map(|n| function(Some("veth"), n)))
                .collect()
        })
    }

    fn tracepoints(&self) -> Vec<(String, String)> {
        ["sys_enter_getpid", "sys_enter_openat", "sys_exit_read"]
            .iter()
            .map(|n| ("syscalls".to_string(), n.to_string()))
            .chain(
                ["sched_switch", "sched_process_exec"]
                    .iter()
                    .map(|n| ("sched".to_string(), n.to_string())),
            )
            .collect()
    }
}

fn render_case(source: &str, name: &str) -> String {
    let catalogue = rbt_stdlib::catalogue();
    match rbt_compiler::compile(source, &catalogue, &FakeKernel, &Options::default()) {
        Err(errors) => diag::render(&errors, name, source, false),
        Ok(compiled) => {
            let mut out = String::new();
            for p in &compiled.programs {
                let map_name = |i: u32| {
                    compiled.tables.maps.get(i as usize).map_or_else(
                        || compiled.maps.layouts[i as usize].kernel_name.clone(),
                        |m| m.name.clone(),
                    )
                };
                out.push_str(&format!(
                    "{}:\n{}",
                    p.attach.full_name(),
                    rbt_compiler::bpf::listing(&p.code, &map_name)
                ));
                for (k, (callback, kind)) in p.callbacks.iter().enumerate() {
                    out.push_str(&format!(
                        "callback[{k}] ({kind:?}):\n{}",
                        rbt_compiler::bpf::listing(callback, &map_name)
                    ));
                }
            }
            out
        }
    }
}

fn run_cases(dir: &str, extension: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(dir);
    let bless = std::env::var_os("BLESS").is_some();
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rbt"))
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases in {}", dir.display());
    let mut failures = Vec::new();
    for case in cases {
        let source = std::fs::read_to_string(&case).unwrap();
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let got = render_case(&source, &name);
        let expected_path = case.with_extension(extension);
        if bless {
            std::fs::write(&expected_path, &got).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if got != expected {
            failures.push(format!("{name}:\n--- expected\n{expected}\n--- got\n{got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn codegen_listings() {
    run_cases("codegen", "bpf");
}

#[test]
fn type_errors() {
    run_cases("errors", "txt");
}

#[test]
fn same_input_same_object() {
    let catalogue = rbt_stdlib::catalogue();
    let source = "t:syscalls:sys_enter_openat { @[comm, str(args.filename)] = count(); printf(\"%d\\n\", pid); }";
    let a = rbt_compiler::compile(source, &catalogue, &FakeKernel, &Options::default())
        .ok()
        .unwrap();
    let b = rbt_compiler::compile(source, &catalogue, &FakeKernel, &Options::default())
        .ok()
        .unwrap();
    assert_eq!(a.object, b.object);
}

#[test]
fn buffers_are_reused_from_statement_to_statement() {
    // Forty printf records would need 960 bytes of stack if each kept its own buffer.
    let catalogue = rbt_stdlib::catalogue();
    let source = format!(
        "begin {{ {} }}",
        (0..40)
            .map(|i| format!("printf(\"%d %d\\n\", {i}, {i}); $s{i} = \"x\";"))
            .collect::<String>()
    );
    assert!(rbt_compiler::compile(&source, &catalogue, &FakeKernel, &Options::default()).is_ok());

    // Forty 1024-byte string variables cannot share: a clear error, not a kernel failure.
    let source = format!(
        "begin {{ {} }}",
        (0..40)
            .map(|i| format!("$s{i} = str({i});"))
            .collect::<String>()
    );
    let Err(errors) = rbt_compiler::compile(&source, &catalogue, &FakeKernel, &Options::default())
    else {
        panic!("forty long string variables compiled")
    };
    assert_eq!(errors[0].code, "E0402");
}

fn probe_names(source: &str) -> Vec<String> {
    let catalogue = rbt_stdlib::catalogue();
    match rbt_compiler::compile(source, &catalogue, &FakeKernel, &Options::default()) {
        Ok(compiled) => compiled
            .programs
            .iter()
            .map(|p| p.attach.full_name())
            .collect(),
        Err(errors) => panic!("{source}: {}", diag::render(&errors, "case", source, false)),
    }
}

#[test]
fn kernel_function_wildcards_and_modules() {
    assert_eq!(
        probe_names("kprobe:tcp_c* { @[func] = count(); }"),
        ["kprobe:tcp_connect", "kprobe:tcp_close"]
    );
    assert_eq!(
        probe_names("kretprobe:veth:* { @[func] = count(); }"),
        ["kretprobe:veth:veth_open", "kretprobe:veth:veth_close"]
    );
    // `vmlinux` names the built-in functions, and a plain name needs no module.
    assert_eq!(
        probe_names("kprobe:vmlinux:vfs_* { }"),
        ["kprobe:vfs_read", "kprobe:vfs_write"]
    );
    assert_eq!(
        probe_names("kprobe:veth_open+4 { }"),
        ["kprobe:veth_open+4"]
    );
    assert_eq!(
        probe_names("k:veth:veth_open { }"),
        ["kprobe:veth:veth_open"]
    );
    // fentry wildcards skip functions without BTF (tcp_sendmsg here); old names are aliases.
    assert_eq!(
        probe_names("kfunc:tcp_* { @[func] = count(); }"),
        ["fentry:tcp_connect", "fentry:tcp_close"]
    );
    assert_eq!(probe_names("fr:vmlinux:vfs_read { }"), ["fexit:vfs_read"]);
}

/// The fake kernel without kprobe support.
struct NoKprobes;

impl Kernel for NoKprobes {
    fn tracepoint_fields(&self, category: &str, name: &str) -> Option<Vec<TracepointField>> {
        FakeKernel.tracepoint_fields(category, name)
    }
    fn tracepoints(&self) -> Vec<(String, String)> {
        FakeKernel.tracepoints()
    }
    fn kernel_functions(&self) -> &[KernelFunction] {
        FakeKernel.kernel_functions()
    }
    fn function_proto(&self, module: Option<&str>, function: &str) -> Option<FunctionProto> {
        FakeKernel.function_proto(module, function)
    }
    fn c_type(&self, name: &str) -> Option<Type> {
        FakeKernel.c_type(name)
    }
    fn has_kprobes(&self) -> bool {
        false
    }
}

#[test]
fn fentry_stands_in_for_kprobes_the_kernel_lacks() {
    let catalogue = rbt_stdlib::catalogue();
    let source =
        "kprobe:tcp_connect { @[arg0, arg3] = count(); } kretprobe:vfs_read { @h = hist(retval); }
        kprobe:vfs_read+4 { } kprobe:tcp_sendmsg { } kprobe:veth:veth_open { }";
    let compiled = match rbt_compiler::compile(source, &catalogue, &NoKprobes, &Options::default())
    {
        Ok(c) => c,
        Err(errors) => panic!("{}", diag::render(&errors, "case", source, false)),
    };
    let got: Vec<(String, rbt_compiler::catalogue::ProbeClass)> = compiled
        .programs
        .iter()
        .map(|p| (p.attach.full_name(), p.attach.class()))
        .collect();
    use rbt_compiler::catalogue::ProbeClass::*;
    // The probes keep their names; an offset or a function without BTF stay kprobes, a module
    // function with BTF moves too.
    assert_eq!(
        got,
        [
            ("kprobe:tcp_connect".to_string(), Fentry),
            ("kretprobe:vfs_read".to_string(), Fexit),
            ("kprobe:vfs_read+4".to_string(), Kprobe),
            ("kprobe:tcp_sendmsg".to_string(), Kprobe),
            ("kprobe:veth:veth_open".to_string(), Fentry),
        ]
    );
    // arg0 is the first context slot; tcp_connect has one parameter, so arg3 is 0.
    let listing = rbt_compiler::bpf::listing(&compiled.programs[0].code, &|i| format!("m{i}"));
    assert!(listing.contains("= *(u64 *)(r1 + 0)"), "{listing}");
    assert!(!listing.contains("(r1 + 112)"), "{listing}");
}

#[test]
fn getopt_reads_named_options_as_the_default_type() {
    use rbt_compiler::sema::Getopt;
    let named = |pairs: &[(&str, Option<&str>)]| Options {
        named: pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.map(str::to_string)))
            .collect(),
        ..Options::default()
    };
    let o = named(&[
        ("aa", Some("0xffffffffffffffff")),
        ("bb", Some("-10")),
        ("cc", Some("False")),
        ("dd", None),
        ("ee", Some("bye")),
    ]);
    assert_eq!(
        o.getopt("aa", Getopt::Int(20)),
        Ok(Getopt::Int(u64::MAX.into()))
    );
    assert_eq!(o.getopt("bb", Getopt::Int(-1)), Ok(Getopt::Int(-10)));
    assert_eq!(o.getopt("cc", Getopt::Bool(true)), Ok(Getopt::Bool(false)));
    assert_eq!(o.getopt("dd", Getopt::Bool(false)), Ok(Getopt::Bool(true)));
    assert_eq!(
        o.getopt("ee", Getopt::Str("hi".into())),
        Ok(Getopt::Str("bye".into()))
    );
    assert_eq!(o.getopt("zz", Getopt::Int(7)), Ok(Getopt::Int(7)));
    assert_eq!(o.getopt("cc", Getopt::Int(7)), Err("integer"));
    assert_eq!(o.getopt("dd", Getopt::Int(7)), Err("integer"));

    let catalogue = rbt_stdlib::catalogue();
    let source = r#"begin { print((getopt("aa", 1), getopt("dd"), getopt("aa", 2, "again"))); }"#;
    let compiled = rbt_compiler::compile(source, &catalogue, &FakeKernel, &o)
        .ok()
        .unwrap();
    assert_eq!(compiled.tables.getopts, ["aa", "dd"]);

    let Err(errors) = rbt_compiler::compile(
        r#"begin { print(getopt("cc", 10)); }"#,
        &catalogue,
        &FakeKernel,
        &o,
    ) else {
        panic!("--cc=False compiled as an integer")
    };
    assert_eq!(
        errors[0].message,
        "program command line option --cc invalid integer (value: False)"
    );
}
