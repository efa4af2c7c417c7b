//! C types: struct definitions in the script, pointers read through in a uprobe of a small C
//! program, struct and array values in maps and in print().

use std::path::PathBuf;
use std::process::Command;

use crate::harness::{privileged, run_to_end};

const PROGRAM: &str = r#"
struct Inner { short x[3]; };
struct Rec { char tag; int n; long big; struct Inner in; unsigned int a:4, b:8; char name[8]; struct Rec *next; };
__attribute__((noinline)) int take(struct Rec *r) { return r->n; }
int main(void) {
  struct Rec second = { .n = 42 };
  struct Rec first = { .tag = 1, .n = -5, .big = 1L << 40, .in = { { 7, -8, 9 } }, .a = 3, .b = 200,
                       .name = "first", .next = &second };
  return take(&first) == -5 ? 0 : 1;
}
"#;

const DEFINITIONS: &str = "struct Inner { short x[3]; }; \
    struct Rec { char tag; int n; long big; struct Inner in; unsigned int a:4, b:8; char name[8]; struct Rec *next; }";

/// The program above, built once into the target directory.
fn program() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let source = dir.join("ctypes_prog.c");
    let binary = dir.join("ctypes_prog");
    std::fs::write(&source, PROGRAM).unwrap();
    let status = Command::new("cc")
        .args(["-O0", "-o"])
        .arg(&binary)
        .arg(&source)
        .status()
        .expect("cannot run cc");
    assert!(status.success(), "cc failed");
    binary
}

#[test]
fn struct_fields_through_pointers_in_a_uprobe() {
    let Some(_serial) = privileged("struct_fields_through_pointers_in_a_uprobe") else {
        return;
    };
    let bin = program();
    let bin = bin.display();
    let script = format!(
        r#"{DEFINITIONS} uprobe:{bin}:take {{ $r = (struct Rec *)arg0;
            printf("%d %ld %d %d %d %s %d\n", $r->n, $r->big, $r->in.x[1], $r->a, $r->b, $r->name, $r->next->n);
            @in = $r->in; @k[$r->in, $r->tag] = sizeof(struct Rec); @x = $r->in.x; exit(); }}"#
    );
    let out = run_to_end(&["-c", &bin.to_string(), "-e", &script]);
    out.expect_line(&format!("-5 {} -8 3 200 first 42", 1u64 << 40));
    out.expect_line("@in: { .x = [7,-8,9] }");
    out.expect_line("@k[{ .x = [7,-8,9] }, 1]: 40");
    out.expect_line("@x: [7,-8,9]");
}

#[test]
fn pointer_arithmetic_enums_and_sizes_in_begin() {
    let Some(_serial) = privileged("pointer_arithmetic_enums_and_sizes_in_begin") else {
        return;
    };
    let out = run_to_end(&[
        "-e",
        "enum E { ONE = 1, TWO } struct P { char c; long l; } __attribute__((packed)) \
         begin { $p = (struct P *)1000; printf(\"%d %d %d\\n\", $p + 2, sizeof(struct P), offsetof(struct P, l)); \
         @e = TWO; @ptr = (int16 *)0x32; @ptr++; exit(); }",
    ]);
    out.expect_line("1018 9 1");
    out.expect_line("@e: TWO");
    out.expect_line("@ptr: 0x34");
}

#[test]
fn addresses_of_variables_bitfields_and_array_casts() {
    let Some(_serial) = privileged("addresses_of_variables_bitfields_and_array_casts") else {
        return;
    };
    let out = run_to_end(&[
        "-e",
        "struct foo { unsigned long long x_0:1; unsigned long long x_1:1; long long x_2:2; } \
         begin { $val = (uint64)0x1e; $f = *(struct foo *)(&$val); print($f); \
         $p = (struct foo *)&$val; $p++; printf(\"%d\\n\", $p - (struct foo *)&$val); \
         printf(\"%x\\n\", ((int8[])12345)[1]); print((int8[])\"hi\"); \
         $a = (uint8[4])\"abc\"; print((int32)$a); exit(); }",
    ]);
    out.expect_line("{ .x_0 = 0, .x_1 = 1, .x_2 = -1 }");
    out.expect_line("1");
    out.expect_line("30");
    out.expect_line("[104,105,0]");
    out.expect_line("6513249");
}
