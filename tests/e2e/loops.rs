//! Loops: `while`, `unroll`, `for` over ranges and maps, with `break` and `continue`.

use crate::harness::{privileged, run_to_end};

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
