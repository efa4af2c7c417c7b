//! Macros and block expressions: expanded before checking, run as ordinary code.

use crate::harness::{perl, privileged, run, run_to_end, settle};

#[test]
fn macros_mutate_by_name_and_hide_their_variables() {
    let Some(_serial) = privileged("macros_mutate_by_name_and_hide_their_variables") else {
        return;
    };
    // `tally` takes a map and a variable by name and a key expression; its `$n` is its own.
    let out = run(
        &[
            "-e",
            r#"macro tally(@m, $seen, key) { let $n = 1; @m[key] = count(); $seen += $n; $seen }
               tracepoint:syscalls:sys_enter_getpid /comm == "rbte2eperl"/ {
                   $n = 40; $s = 1; $t = tally(@calls, $s, comm);
                   @sum = sum($n + $s + $t); }"#,
        ],
        || perl("syscall(39) for 1..5"),
        settle(),
    );
    out.expect_line("@calls[rbte2eperl]: 5");
    // Each event: $n stays 40, $s becomes 2 and tally's value is 2: 44, five times.
    out.expect_line("@sum: 220");
}

#[test]
fn block_expressions_and_macro_errors() {
    let Some(_serial) = privileged("block_expressions_and_macro_errors") else {
        return;
    };
    let out = run_to_end(&[
        "-e",
        r#"macro twice(x) { x; x } begin { $v = { let $a = 20; $a + 1 } * 2;
           twice(printf("v=%d\n", $v)); @avg = { let $b = 4; avg($b) }; exit(); }"#,
    ]);
    assert_eq!(out.stdout.matches("v=42\n").count(), 2, "{out:?}");
    out.expect_line("@avg: 4");

    let out = run_to_end(&["-e", "macro a() { b() } macro b() { a() } begin { a(); }"]);
    out.expect_stderr("macro `a` calls itself: a > b > a");
    assert_ne!(out.code, Some(0));
}

#[test]
fn errorf_in_a_macro_names_the_call_it_came_through() {
    let Some(_serial) = privileged("errorf_in_a_macro_names_the_call_it_came_through") else {
        return;
    };
    let out = run_to_end(&[
        "-e",
        r#"macro bad() { errorf("Something bad"); } begin { bad(); }"#,
    ]);
    out.expect_stderr("stdin:1:15-38: ERROR: Something bad\nstdin:1:50-55: ERROR: expanded from\n");
    out.expect_stderr("macro bad() { errorf(\"Something bad\"); } begin { bad(); }\n");
}
