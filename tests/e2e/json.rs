//! `-f json`: what rbt prints in bpftrace's JSON format, one object per line.

use crate::harness::{COMM, perl, privileged, run, run_to_end, settle};

#[test]
fn json_begin_printf_print_and_maps_at_exit() {
    let Some(_serial) = privileged("json_begin_printf_print_and_maps_at_exit") else {
        return;
    };
    let out = run_to_end(&[
        "-q",
        "-f",
        "json",
        "-e",
        r#"begin { printf("test \r \n \t \\ \" %d", 5); print((1, "q", (true, false))); @map["key1"] = 2; @map["key2"] = 3; @complex["bpftrace", 2] = count(); @hist = hist(2); @hist = hist(1025); @s["curl"] = stats(2); @a = avg(7); exit(); }"#,
    ]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let expected = [
        r#"{"type": "printf", "data": "test \r \n \t \\ \" 5"}"#,
        r#"{"type": "value", "data": [1,"q",[true,false]]}"#,
        r#"{"type": "stats", "data": {"@a": 7}}"#,
        r#"{"type": "map", "data": {"@complex": {"bpftrace,2": 1}}}"#,
        concat!(
            r#"{"type": "hist", "data": {"@hist": [{"min": 2, "max": 3, "count": 1},"#,
            r#"{"min": 4, "max": 7, "count": 0},{"min": 8, "max": 15, "count": 0},"#,
            r#"{"min": 16, "max": 31, "count": 0},{"min": 32, "max": 63, "count": 0},"#,
            r#"{"min": 64, "max": 127, "count": 0},{"min": 128, "max": 255, "count": 0},"#,
            r#"{"min": 256, "max": 511, "count": 0},{"min": 512, "max": 1023, "count": 0},"#,
            r#"{"min": 1024, "max": 2047, "count": 1}]}}"#
        ),
        r#"{"type": "map", "data": {"@map": {"key1": 2, "key2": 3}}}"#,
        r#"{"type": "stats", "data": {"@s": {"curl": {"count": 1, "average": 2, "total": 2}}}}"#,
    ];
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines, expected, "{out:?}");
    assert!(!out.stderr.contains("Attached"), "{out:?}");
}

#[test]
fn json_attached_probes_goes_to_the_output() {
    let Some(_serial) = privileged("json_attached_probes_goes_to_the_output") else {
        return;
    };
    let out = run_to_end(&["-f", "json", "-e", "begin { exit(); }"]);
    assert_eq!(
        out.stdout.lines().next(),
        Some(r#"{"type": "attached_probes", "count": 1, "data": {"probes": 1}}"#),
        "{out:?}"
    );
    assert!(!out.stderr.contains("Attached"), "{out:?}");
}

#[test]
fn json_zeroed_histograms_and_print_with_top_and_div() {
    let Some(_serial) = privileged("json_zeroed_histograms_and_print_with_top_and_div") else {
        return;
    };
    let out = run_to_end(&[
        "-q",
        "-f",
        "json",
        "-e",
        r#"begin { @h = lhist(2, 0, 100, 10); zero(@h); @[1] = hist(10); @[2] = hist(20); @[3] = hist(30); print(@, 2); clear(@); @v["a"] = avg(10); @v["b"] = avg(20); @v["c"] = avg(30); print(@v, 2, 10); clear(@v); exit(); }"#,
    ]);
    let expected = [
        r#"{"type": "hist", "data": {"@": {"2": [{"min": 16, "max": 31, "count": 1}], "3": [{"min": 16, "max": 31, "count": 1}]}}}"#,
        r#"{"type": "stats", "data": {"@v": {"b": 2, "c": 3}}}"#,
        r#"{"type": "hist", "data": {"@h": []}}"#,
    ];
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines, expected, "{out:?}");
}

#[test]
fn json_tracepoint_counts_by_comm() {
    let Some(_serial) = privileged("json_tracepoint_counts_by_comm") else {
        return;
    };
    let program = format!(
        r#"tracepoint:syscalls:sys_enter_getpid /comm == "{COMM}"/ {{ @[comm, 7] = count(); printf("pid\n"); }}"#
    );
    let out = run(
        &["-q", "-f", "json", "-e", &program],
        || perl("syscall(39) for 1..3"),
        settle(),
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    let pid = r#"{"type": "printf", "data": "pid\n"}"#;
    assert_eq!(lines[..3], [pid, pid, pid], "{out:?}");
    assert_eq!(
        lines[3..],
        [format!(
            r#"{{"type": "map", "data": {{"@": {{"{COMM},7": 3}}}}}}"#
        )],
        "{out:?}"
    );
}

#[test]
fn json_invalid_format_is_refused() {
    let Some(_serial) = privileged("json_invalid_format_is_refused") else {
        return;
    };
    let out = run_to_end(&["-q", "-f", "jsonx", "-e", "begin { @scalar = 5; }"]);
    assert_ne!(out.code, Some(0), "{out:?}");
    out.expect_stderr(r#"ERROR: Invalid output format "jsonx""#);
    assert!(out.stdout.is_empty(), "{out:?}");
}
