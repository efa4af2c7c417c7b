//! End-to-end tests: the real `rbt` binary, as root, on the real kernel.

mod harness;
mod repl;

use std::time::Duration;

use harness::{perl, privileged, run, run_to_end, settle};

const GETPID_100: &str = "syscall(39) for 1..100";

#[test]
fn begin_printf_and_exit() {
    let Some(_serial) = privileged("begin_printf_and_exit") else {
        return;
    };
    let out = run_to_end(&[
        "-e",
        r#"begin { printf("hello %d %s|%5d|%-4s|\n", 42, "world", 7, "ab"); exit(); }"#,
    ]);
    out.expect_line("hello 42 world|    7|ab  |");
    assert_eq!(out.code, Some(0), "{out:?}");
}

#[test]
fn upper_case_begin_and_angle_blocks() {
    let Some(_serial) = privileged("upper_case_begin_and_angle_blocks") else {
        return;
    };
    let out = run_to_end(&["-e", r#"BEGIN < printf("angle %d\n", 1 > 0); exit(); >"#]);
    out.expect_line("angle 1");
}

#[test]
fn signed_arithmetic_follows_c_and_bpf() {
    let Some(_serial) = privileged("signed_arithmetic_follows_c_and_bpf") else {
        return;
    };
    let out = run_to_end(&[
        "-e",
        r#"begin { $z = 0; printf("%d %d %d %d %d\n", -7 / 2, -7 % 2, 7 / $z, 7 % $z, (1 + 2) * 3 << 1); exit(); }"#,
    ]);
    out.expect_line("-3 -1 0 7 18");
}

#[test]
fn tracepoint_count_by_comm() {
    let Some(_serial) = privileged("tracepoint_count_by_comm") else {
        return;
    };
    let out = run(
        &[
            "-e",
            r#"tracepoint:syscalls:sys_enter_getpid /comm == "perl"/ { @[comm] = count(); @total = count(); }"#,
        ],
        || perl(GETPID_100),
        settle(),
    );
    out.expect_line("@[perl]: 100");
    out.expect_line("@total: 100");
    out.expect_stderr("Attached 1 probe");
}

#[test]
fn tracepoint_args_and_str() {
    let Some(_serial) = privileged("tracepoint_args_and_str") else {
        return;
    };
    let out = run(
        &[
            "-e",
            r#"t:syscalls:sys_enter_openat /comm == "perl"/ { printf("open %s\n", str(args.filename)); }"#,
        ],
        || perl(r#"open(my $f, "<", "/etc/hostname-rbt-test")"#),
        settle(),
    );
    out.expect_line("open /etc/hostname-rbt-test");
}

#[test]
fn aggregations_in_begin() {
    let Some(_serial) = privileged("aggregations_in_begin") else {
        return;
    };
    let out = run_to_end(&[
        "-e",
        "begin { @s = sum(5); @s = sum(6); @a = avg(5); @a = avg(6); @mn = min(9); @mn = min(-3); \
         @mx = max(2); @mx = max(8); @st = stats(2); @st = stats(4); @c[1, \"a\"] = count(); }",
    ]);
    out.expect_line("@s: 11");
    out.expect_line("@a: 5");
    out.expect_line("@mn: -3");
    out.expect_line("@mx: 8");
    out.expect_line("@st: { .count = 2, .average = 3, .total = 6 }");
    out.expect_line("@c[1, a]: 1");
}

#[test]
fn hist_and_lhist() {
    let Some(_serial) = privileged("hist_and_lhist") else {
        return;
    };
    let out = run_to_end(&[
        "-e",
        "begin { @h = hist(-1); @h = hist(2); @h = hist(3); @h = hist(7); @h = hist(20); \
         @l = lhist(3, 0, 10, 2); @l = lhist(11, 0, 10, 2); }",
    ]);
    out.expect_line(
        "(..., 0)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |",
    );
    out.expect_line(
        "[2, 4)                 2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|",
    );
    out.expect_line(
        "[16, 32)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |",
    );
    out.expect_line(
        "[2, 4)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|",
    );
    out.expect_line(
        "[10, ...)              1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|",
    );
}

#[test]
fn keyed_hist_from_a_tracepoint() {
    let Some(_serial) = privileged("keyed_hist_from_a_tracepoint") else {
        return;
    };
    let out = run(
        &[
            "-e",
            r#"t:syscalls:sys_enter_getpid /comm == "perl"/ { @h[comm] = hist(4); }"#,
        ],
        || perl(GETPID_100),
        settle(),
    );
    out.expect_line("@h[perl]:");
    out.expect_line(
        "[4, 8)               100 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|",
    );
}

#[test]
fn interval_with_map_state_and_exit_code() {
    let Some(_serial) = privileged("interval_with_map_state_and_exit_code") else {
        return;
    };
    let out = run(
        &[
            "-e",
            "interval:ms:20 { @n++; if (@n == 3) { printf(\"tick %d\\n\", @n); exit(4); } }",
        ],
        || {},
        Duration::from_secs(10),
    );
    out.expect_line("tick 3");
    out.expect_line("@n: 3");
    assert_eq!(out.code, Some(4), "{out:?}");
}

#[test]
fn profile_fires() {
    let Some(_serial) = privileged("profile_fires") else {
        return;
    };
    let out = run(
        &[
            "-e",
            "profile:hz:99 { @samples = count(); } interval:ms:300 { exit(); }",
        ],
        || {},
        Duration::from_secs(10),
    );
    assert!(out.stdout.contains("@samples: "), "{out:?}");
}

#[test]
fn uprobe_on_libc() {
    let Some(_serial) = privileged("uprobe_on_libc") else {
        return;
    };
    let libc = [
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .expect("no libc.so.6");
    let prog = format!(r#"uprobe:{libc}:getppid /comm == "perl"/ {{ @calls = count(); }}"#);
    let out = run(&["-e", &prog], || perl("getppid() for 1..50"), settle());
    out.expect_line("@calls: 50");
}

#[test]
fn command_ends_the_trace() {
    let Some(_serial) = privileged("command_ends_the_trace") else {
        return;
    };
    let out = run_to_end(&[
        "-c",
        &format!("perl -e '{GETPID_100}'"),
        "-e",
        r#"t:syscalls:sys_enter_getpid /comm == "perl"/ { @ = count(); }"#,
    ]);
    out.expect_line("@: 100");
}

#[test]
fn kprobe_one_liner_loads_but_cannot_attach_here() {
    let Some(_serial) = privileged("kprobe_one_liner_loads_but_cannot_attach_here") else {
        return;
    };
    let prog = "kprobe:tcp_connect < @[comm] = count(); >";
    let dry = run_to_end(&["--dry-run", "-e", prog]);
    assert_eq!(dry.code, Some(0), "{dry:?}");
    let real = run_to_end(&["-e", prog]);
    assert_eq!(real.code, Some(1), "{real:?}");
    if !std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists() {
        real.expect_stderr("this kernel has no kprobe support");
    }
    real.expect_stderr("kprobe:tcp_connect");
}

#[test]
fn errors_point_at_the_source() {
    // Compile errors need no privileges.
    let out = run_to_end(&["-e", "begin { @x = cout(); }"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    out.expect_stderr("unknown function `cout`");
    out.expect_stderr("did you mean `count`?");
    let out = run_to_end(&["-e", "begin { $x = 1 / 0; }"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    out.expect_stderr("division by zero");
}

#[test]
fn unknown_tracepoint_is_named() {
    let Some(_serial) = privileged("unknown_tracepoint_is_named") else {
        return;
    };
    let out = run_to_end(&["-e", "tracepoint:syscalls:sys_enter_opnat { }"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    out.expect_stderr("sys_enter_opnat does not exist");
    out.expect_stderr("did you mean syscalls:sys_enter_openat?");
}
