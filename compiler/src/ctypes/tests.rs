//! C definitions read and laid out as gcc lays them out (offsets checked with gcc 12 on x86-64).

use super::*;
use crate::types::Bitfield;

struct NoKernel;

impl Kernel for NoKernel {
    fn tracepoint_fields(&self, _: &str, _: &str) -> Option<Vec<crate::kernel::TracepointField>> {
        None
    }
    fn tracepoints(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    fn kernel_functions(&self) -> &[crate::kernel::KernelFunction] {
        &[]
    }
    fn function_proto(&self, _: Option<&str>, _: &str) -> Option<crate::kernel::FunctionProto> {
        None
    }
    fn has_kprobes(&self) -> bool {
        true
    }
}

fn read(text: &str) -> CTypes {
    let defs = vec![CDefinition {
        text: text.to_string(),
        span: 0..text.len(),
    }];
    CTypes::from_script(&defs).unwrap_or_else(|e| panic!("{e:?}"))
}

fn record(c: &mut CTypes, name: &str) -> Arc<Record> {
    c.record(name, &NoKernel)
        .unwrap_or_else(|| panic!("{name} undefined"))
}

/// (name, offset) of every field, then (size, align).
fn shape(r: &Record) -> (Vec<(&str, usize)>, usize, usize) {
    (
        r.fields
            .iter()
            .map(|f| (f.name.as_str(), f.offset))
            .collect(),
        r.size,
        r.align,
    )
}

#[test]
fn padding_and_alignment() {
    let mut c = read("struct Foo { char c; int x; char d; long l; short s; }");
    let r = record(&mut c, "struct Foo");
    assert_eq!(
        shape(&r),
        (
            vec![("c", 0), ("x", 4), ("d", 8), ("l", 16), ("s", 24)],
            32,
            8
        )
    );
}

#[test]
fn packed_and_aligned() {
    let mut c = read(
        "struct bar { int x; char y; int z; } __attribute__((packed)) __attribute__((aligned(1)))",
    );
    assert_eq!(record(&mut c, "struct bar").size, 9);
    let mut c = read("struct q { char c; } __attribute__((aligned(8)));");
    assert_eq!(shape(&record(&mut c, "struct q")), (vec![("c", 0)], 8, 8));
    let mut c = read("struct foo { int x; char y; int z; } /**/ __attribute__ /**/ ((packed))");
    assert_eq!(record(&mut c, "struct foo").size, 9);
}

#[test]
fn nested_anonymous_and_arrays() {
    let mut c = read(
        "struct Foo { struct { int m[1] } y; struct Bar { int x; } bar; char s[5]; int *p[2]; int g[2][3]; }",
    );
    let r = record(&mut c, "struct Foo");
    assert_eq!(
        shape(&r),
        (
            vec![("y", 0), ("bar", 4), ("s", 8), ("p", 16), ("g", 32)],
            56,
            8
        )
    );
    assert_eq!(r.fields[2].ty, Type::Str { len: 5 });
    assert_eq!(r.fields[4].ty.to_string(), "int32[2][3]");
    // `struct Bar` defined inside is defined everywhere, as in C.
    assert_eq!(record(&mut c, "struct Bar").size, 4);
}

#[test]
fn anonymous_members_are_flattened() {
    let mut c = read("struct S { int a; union { int b; char c[8]; }; int d; }");
    assert_eq!(
        shape(&record(&mut c, "struct S")),
        (vec![("a", 0), ("b", 4), ("c", 4), ("d", 12)], 16, 4)
    );
}

#[test]
fn unions_overlap() {
    let mut c = read("union N { int i; float f; char s[6]; }");
    assert_eq!(
        shape(&record(&mut c, "union N")),
        (vec![("i", 0), ("f", 0), ("s", 0)], 8, 4)
    );
}

#[test]
fn bitfields() {
    let mut c = read("struct Foo { unsigned int a:4, b:8, c:3, d:1, e:16; }");
    let r = record(&mut c, "struct Foo");
    let bits: Vec<(usize, Bitfield)> = r
        .fields
        .iter()
        .map(|f| (f.offset, f.bitfield.unwrap()))
        .collect();
    let bf = |shift, bits| Bitfield { shift, bits };
    assert_eq!(
        bits,
        vec![
            (0, bf(0, 4)),
            (0, bf(4, 8)),
            (1, bf(4, 3)),
            (1, bf(7, 1)),
            (2, bf(0, 16))
        ]
    );
    assert_eq!(r.size, 4);
    // A bitfield that would cross its unit starts the next one.
    let mut c = read("struct G { unsigned char a:7; unsigned char b:2; int c:31; int d:2; }");
    let r = record(&mut c, "struct G");
    assert_eq!(
        shape(&r),
        (vec![("a", 0), ("b", 1), ("c", 4), ("d", 8)], 12, 4)
    );
}

#[test]
fn enums_and_defines() {
    let mut c = read("enum Foo { ONE = 1, TWO, BIG = 1 << 4, NEG = -TWO }");
    assert_eq!(c.constant("TWO", &NoKernel).unwrap().value, 2);
    assert_eq!(c.constant("BIG", &NoKernel).unwrap().value, 16);
    assert_eq!(c.constant("NEG", &NoKernel).unwrap().value, -2);
    let Some(Type::Enum(e)) = c.lookup("enum Foo", &NoKernel) else {
        panic!("enum Foo undefined")
    };
    assert_eq!((e.size, e.signed, e.name_of(16)), (4, true, Some("BIG")));
    let defs = [
        "#define _UNDERSCORE 314",
        "#include <linux/sched.h>",
        "#define X (_UNDERSCORE + 1)",
    ]
    .map(|t| CDefinition {
        text: t.to_string(),
        span: 0..t.len(),
    });
    let mut c = CTypes::from_script(&defs).unwrap();
    assert_eq!(c.constant("X", &NoKernel).unwrap().value, 315);
}

#[test]
fn typedefs_and_builtin_names() {
    let mut c = read("typedef struct { unsigned long long x; uint8_t y[3]; } pair_t;");
    let Some(Type::Record(r)) = c.lookup("pair_t", &NoKernel) else {
        panic!("pair_t undefined")
    };
    assert_eq!(r.size, 16);
    assert_eq!(r.fields[1].ty.to_string(), "uint8[3]");
    for (name, t) in [
        ("unsigned long", "uint64"),
        ("long long", "int64"),
        ("unsigned char", "uint8"),
        ("short", "int16"),
        ("uint32_t", "uint32"),
        ("__s16", "int16"),
        ("u8", "uint8"),
        ("int64", "int64"),
    ] {
        assert_eq!(
            builtin(name).map(|t| t.to_string()).as_deref(),
            Some(t),
            "{name}"
        );
    }
}

#[test]
fn pointers_to_records_name_them() {
    let mut c = read("struct list { struct list *next; int v; }");
    let r = record(&mut c, "struct list");
    assert_eq!(
        r.fields[0].ty,
        Type::Ptr(Box::new(Type::Named("struct list".into())))
    );
    assert_eq!(shape(&r), (vec![("next", 0), ("v", 8)], 16, 8));
}

#[test]
fn errors_point_into_the_definition() {
    let text = "struct Foo { int a; struct Missing m; }";
    let defs = vec![CDefinition {
        text: text.to_string(),
        span: 10..10 + text.len(),
    }];
    let e = CTypes::from_script(&defs).unwrap_err();
    assert_eq!(
        e[0].message,
        "field `m` has the incomplete type struct Missing"
    );
    let defs = vec![CDefinition {
        text: "struct Foo { wat x; }".to_string(),
        span: 0..21,
    }];
    let e = CTypes::from_script(&defs).unwrap_err();
    assert_eq!(e[0].message, "unknown type `wat`");
}
