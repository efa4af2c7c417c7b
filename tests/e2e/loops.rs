//! Loops: `while`, `unroll`, `for` over ranges and maps, with `break` and `continue`.

use crate::harness::{perl, privileged, run, run_to_end, settle};

#[test]
fn while_with_break_and_continue_and_unroll() {
    let Some(_serial) = privileged("while_with_break_and_continue_and_unroll") else {
        return;
    };
    let out = run_to_end(&[
        "-e",
        r#"begin { $i = 0; while ($i < 10) { $i++; if ($i == 2) { continue; } if ($i == 5) { break; } printf("i=%d\n", $i); } unroll (3) { $i += 10; } printf("after %d\n", $i); exit(); }"#,
    ]);
    out.expect_line("i=1");
    out.expect_line("i=3");
    out.expect_line("i=4");
    out.expect_line("after 35");
    assert!(!out.stdout.contains("i=2"), "{out:?}");
    assert!(!out.stdout.contains("i=5"), "{out:?}");
    assert_eq!(out.code, Some(0), "{out:?}");
}

#[test]
fn for_over_a_range() {
    let Some(_serial) = privileged("for_over_a_range") else {
        return;
    };
    let out = run_to_end(&[
        "-e",
        r#"begin { $start = -2; $sum = 0; for ($i : $start..(1 + 2)) { if ($i == 0) { continue; } printf("i=%d\n", $i); $sum += $i; } for ($i : 5..5) { printf("never\n"); } for ($i : 1..4) { for ($j : 1..$i) { if ($j == 2) { printf("sum=%d\n", $sum); exit(); } } } printf("not reached\n"); }"#,
    ]);
    for line in ["i=-2", "i=-1", "i=1", "i=2", "sum=0"] {
        out.expect_line(line);
    }
    for absent in ["i=0", "i=3", "never", "not reached"] {
        assert!(!out.stdout.contains(absent), "{absent}: {out:?}");
    }
    assert_eq!(out.code, Some(0), "{out:?}");
}

#[test]
fn for_over_a_map_reads_keys_values_and_probe_variables() {
    let Some(_serial) = privileged("for_over_a_map_reads_keys_values_and_probe_variables") else {
        return;
    };
    let out = run_to_end(&[
        "-e",
        r#"begin { @m["a", 1] = "one"; @m["b", 2] = "two"; @n[7] = 70; $seen = 0; $last = "none"; for ($kv : @m) { printf("%s %d %s\n", $kv.0.0, $kv.0.1, $kv.1); for ($x : @n) { $seen += $x.1; } $last = $kv.1; } printf("seen=%d\n", $seen); for ($kv : @n) { print($kv); delete(@n, $kv.0); break; } print(@n); exit(); }"#,
    ]);
    out.expect_line("a 1 one");
    out.expect_line("b 2 two");
    out.expect_line("seen=140");
    out.expect_line("(7, 70)");
    assert!(!out.stdout.contains("@n[7]"), "{out:?}");
    assert_eq!(out.code, Some(0), "{out:?}");
}

#[test]
fn loop_bodies_read_the_probe_context() {
    let Some(_serial) = privileged("loop_bodies_read_the_probe_context") else {
        return;
    };
    let out = run(
        &[
            "-e",
            r#"tracepoint:syscalls:sys_enter_getpid /comm == "rbte2eperl"/ { for ($i : 0..2) { printf("nr %d %d\n", $i, args.__syscall_nr); } exit(); }"#,
        ],
        || perl("syscall(39)"),
        settle(),
    );
    out.expect_line("nr 0 39");
    out.expect_line("nr 1 39");
}
