//! Builtin functions beyond printf and the aggregations: strings, map queries, bswap.

use std::time::Duration;

use crate::harness::{perl, privileged, run, run_to_end, settle};

#[test]
fn strcontains_follows_nul_and_edges() {
    let Some(_serial) = privileged("strcontains_follows_nul_and_edges") else {
        return;
    };
    let cases = [
        (r#""hello-test-world", "world""#, "true"),
        (r#""hello-test-world", "not-there""#, "false"),
        (r#""", "test""#, "false"),
        (r#""hello", """#, "true"),
        (r#""hello", "hello-longer""#, "false"),
        (r#""Hello World", "hello""#, "false"),
        (r#""ababac", "abac""#, "true"),
        (r#""hello\0world", "world""#, "false"),
        (r#""hello world", "wo\0rld""#, "true"),
    ];
    let body: String = cases
        .iter()
        .map(|(args, _)| format!("print(strcontains({args})); "))
        .collect();
    let out = run_to_end(&["-e", &format!("begin {{ {body} exit(); }}")]);
    // The output ends with bpftrace's closing blank line.
    let got: Vec<&str> = out.stdout.lines().filter(|l| !l.is_empty()).collect();
    let want: Vec<&str> = cases.iter().map(|(_, w)| *w).collect();
    assert_eq!(got, want, "{out:?}");
}

#[test]
fn strncmp_strlen_strstr() {
    let Some(_serial) = privileged("strncmp_strlen_strstr") else {
        return;
    };
    let out = run_to_end(&[
        "-e",
        r#"begin { $s = "hello-world";
            printf("%d %d %d %d %d\n", strncmp("abc", "abd", 2), strncmp("abc", "abd", 3),
                strncmp("ab", "abc", 5), strncmp("abc", "abc", 10), strncmp("ab", "abc", 2));
            printf("%d %d %d\n", strlen($s), strlen(""), strlen("a\0b"));
            printf("%d %d %d\n", strstr($s, "wor"), strstr($s, "xyz"), strstr($s, ""));
            exit(); }"#,
    ]);
    out.expect_line("0 1 1 0 0");
    out.expect_line("11 0 1");
    out.expect_line("6 -1 0");
}

#[test]
fn string_functions_on_kernel_strings() {
    let Some(_serial) = privileged("string_functions_on_kernel_strings") else {
        return;
    };
    // Full 1024-byte strings from str(): the loops stay within the verifier's limits.
    let out = run(
        &[
            "-e",
            r#"t:syscalls:sys_enter_openat /comm == "rbte2eperl" && strncmp(str(args.filename), "/etc/rbt-", 9) == 0/ {
                printf("%d %d %d\n", strlen(str(args.filename)), strstr(str(args.filename), "funcs"),
                    strcontains(str(args.filename), "test")); }"#,
        ],
        || perl(r#"open(my $f, "<", "/etc/rbt-funcs-test")"#),
        settle(),
    );
    out.expect_line("19 9 1");
}

#[test]
fn has_key_of_plain_and_tuple_keys() {
    let Some(_serial) = privileged("has_key_of_plain_and_tuple_keys") else {
        return;
    };
    let out = run_to_end(&[
        "-e",
        r#"begin { @a[1] = 10; @b[2, "x"] = 1; @c["k"] = count();
            printf("%d %d %d %d %d\n", has_key(@a, 1), has_key(@a, 3), has_key(@b, (2, "x")),
                has_key(@b, (2, "y")), has_key(@c, "k"));
            delete(@a, 1); printf("%d\n", has_key(@a, 1)); clear(@a); clear(@b); clear(@c); exit(); }"#,
    ]);
    out.expect_line("1 0 1 0 1");
    out.expect_line("0");
}

#[test]
fn has_key_refuses_scalar_maps() {
    let Some(_serial) = privileged("has_key_refuses_scalar_maps") else {
        return;
    };
    let out = run_to_end(&["-e", r#"begin { @s = 1; print(has_key(@s, 1)); }"#]);
    out.expect_stderr("`has_key` needs a map with keys");
    assert_ne!(out.code, Some(0));
}

#[test]
fn bswap_by_width() {
    let Some(_serial) = privileged("bswap_by_width") else {
        return;
    };
    let out = run_to_end(&[
        "-e",
        r#"begin { printf("%llx %x %x %x %x %d\n", bswap(0x1122334455667788), bswap((int32)0x12345678),
            bswap((int8)0x12), bswap(bswap(0x1234)), bswap((uint16)0x1234), bswap((int16)0x80)); exit(); }"#,
    ]);
    out.expect_line("8877665544332211 78563412 12 1234 3412 -32768");
}

#[test]
fn time_cat_and_system_run_in_user_space() {
    let Some(_serial) = privileged("time_cat_and_system_run_in_user_space") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("rbt-e2e-cat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("file-7"), "cat line one\ncat line two\n").unwrap();
    let script = format!(
        r#"i:ms:1 {{ time("year %Y\n"); cat("{}/file-%d", 7); system("echo system %s %d", "says", 42); exit(); }}"#,
        dir.display()
    );
    let out = run_to_end(&["--unsafe", "-e", &script]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("year 20") && l.len() == 9),
        "{out:?}"
    );
    out.expect_line("cat line one");
    out.expect_line("cat line two");
    out.expect_line("system says 42");
}

#[test]
fn system_and_signal_need_unsafe() {
    let Some(_serial) = privileged("system_and_signal_need_unsafe") else {
        return;
    };
    let out = run_to_end(&["-e", r#"begin { system("true"); signal("KILL"); }"#]);
    out.expect_stderr("`system` changes the system and needs --unsafe");
    out.expect_stderr("`signal` changes the system and needs --unsafe");
    assert_ne!(out.code, Some(0));
}

#[test]
fn signal_kills_the_traced_process() {
    use std::os::unix::process::ExitStatusExt;
    let Some(_serial) = privileged("signal_kills_the_traced_process") else {
        return;
    };
    let status = std::sync::Mutex::new(None);
    let out = run(
        &[
            "--unsafe",
            "-e",
            r#"t:syscalls:sys_enter_getpid /comm == "rbte2eperl"/ { signal("SIGKILL"); }"#,
        ],
        || {
            let s = std::process::Command::new(crate::harness::perl_path())
                .arg("-e")
                .arg("syscall(39); sleep 5; exit 0")
                .status()
                .unwrap();
            *status.lock().unwrap() = Some(s);
        },
        settle(),
    );
    let status = status.lock().unwrap().expect("the trigger did not run");
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?} {out:?}");
}

#[test]
fn addresses_errors_signals_times_and_buffers_as_text() {
    let Some(_serial) = privileged("addresses_errors_signals_times_and_buffers_as_text") else {
        return;
    };
    let out = run_to_end(&[
        "-e",
        r#"begin {
            printf("%s %s %s %s\n", ntop(0x0100007f), ntop(2, pton("10.1.2.3")), ntop(pton("::1")), ntop(10, pton("fe80::1")));
            print(strerror(22)); print(signal_name(2)); print(signal_name(1024));
            printf("%s|%s\n", strftime("%s.%f", 1000123000), strftime("%s.%f", 0));
            printf("%r|%rx|%rh\n", buf("hi\x01", 3), buf("Hi", 2), buf("Hi", 2));
            @b[buf("key", 4)] = count();
            printf("%d %d\n", buf("ab", 2) == buf("ab", 2), buf("ab", 2) == buf("abc", 3));
            exit(); }"#,
    ]);
    out.expect_line("127.0.0.1 10.1.2.3 ::1 fe80::1");
    out.expect_line("Invalid argument");
    out.expect_line("Interrupt");
    out.expect_line("N/A");
    out.expect_line(r"hi\x01|\x48\x69|48 69");
    out.expect_line(r"@b[key\x00]: 1");
    out.expect_line("1 0");
    // The two stamps are one second and 123 microseconds apart, whatever the boot time.
    let stamps = out
        .stdout
        .lines()
        .find(|l| l.contains('|') && l.contains('.'))
        .unwrap();
    let (a, b) = stamps.split_once('|').unwrap();
    let us = |s: &str| -> i64 { s.replace('.', "").parse().unwrap() };
    assert_eq!(us(a) - us(b), 1_000_123, "{out:?}");
}

#[test]
fn user_and_kernel_stacks_are_symbolized() {
    let Some(_serial) = privileged("user_and_kernel_stacks_are_symbolized") else {
        return;
    };
    let libc = [
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .expect("no libc.so.6");
    // At a uprobe's entry the innermost user frame is the probed function itself.
    let prog = format!(
        r#"uprobe:{libc}:getppid /comm == "rbte2eperl"/ {{ printf("%s|%s|%s", ustack(1), ustack(perf, 1), ustack(raw, 1)); exit(); }}"#
    );
    // Stacks are symbolized when printed, so the process must still be there then.
    let mut source = None;
    let out = run(
        &["-e", &prog],
        || {
            source = Some(
                std::process::Command::new(crate::harness::perl_path())
                    .args(["-e", "getppid(); sleep 5"])
                    .spawn()
                    .unwrap(),
            )
        },
        Duration::from_secs(3),
    );
    if let Some(mut p) = source {
        let _ = p.kill();
        let _ = p.wait();
    }
    let text = out.stdout.replace('\n', "~");
    let parts: Vec<&str> = text.split('|').collect();
    assert_eq!(parts.len(), 3, "{out:?}");
    // libc's debug symbols may name it __GI_getppid.
    assert!(
        parts[0].starts_with("~        ") && parts[0].contains("getppid+0"),
        "{out:?}"
    );
    assert!(
        parts[1].starts_with("~\t") && parts[1].contains("getppid+0 ("),
        "{out:?}"
    );
    assert!(parts[1].contains("libc.so.6)"), "{out:?}");
    let raw = parts[2].trim_matches('~');
    assert!(u64::from_str_radix(raw, 16).is_ok(), "{out:?}");

    let out = run(
        &[
            "-e",
            r#"t:syscalls:sys_enter_getpid /comm == "rbte2eperl"/ { @[kstack(3)] = count(); exit(); }"#,
        ],
        || perl("syscall(39) for 1..50"),
        settle(),
    );
    let frames: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("        "))
        .collect();
    assert!(!frames.is_empty() && frames.len() <= 3, "{out:?}");
    assert!(frames.iter().all(|f| f.trim().contains('+')), "{out:?}");
    // More calls may land before exit() takes effect.
    assert!(out.stdout.lines().any(|l| l.starts_with("]: ")), "{out:?}");
}

#[test]
fn info_reports_features_in_bpftraces_lines() {
    let Some(_serial) = privileged("info_reports_features_in_bpftraces_lines") else {
        return;
    };
    let out = run_to_end(&["--info"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout
            .contains("blazesym (advanced symbolization): yes")
    );
    // This kernel has bpf_ktime_get_tai_ns (6.1+), which nsecs(tai) calls.
    assert!(out.stdout.contains("get_tai_ns: yes"), "{out:?}");
}

#[test]
fn aggregations_read_in_a_probe_merge_every_cpu() {
    let Some(_serial) = privileged("aggregations_read_in_a_probe_merge_every_cpu") else {
        return;
    };
    let out = run_to_end(&[
        "-e",
        r#"begin { @a = avg(-1); @a = avg(-1); @a = avg(-10); @c = count(); @c = count();
            @s = sum(5); @mn = min(3); @mn = min(-2); @mx = max(7); @k["x"] = count();
            printf("%d %d %d %d %d %d\n", @a, @c, @s, @mn, @mx, @k["x"] + @c); exit(); }"#,
    ]);
    out.expect_line("-4 2 5 -2 7 3");
    // A profile probe fires on every CPU; its count, read back, sees all of them.
    let out = run(
        &[
            "-e",
            "profile:hz:99 { @n = count(); if (@n >= 20) { printf(\"seen %d\\n\", @n); exit(); } }",
        ],
        || {},
        Duration::from_secs(5),
    );
    assert!(
        out.stdout.lines().any(|l| l.starts_with("seen ")),
        "{out:?}"
    );
}

#[test]
fn warnf_and_errorf_name_their_place() {
    let Some(_serial) = privileged("warnf_and_errorf_name_their_place") else {
        return;
    };
    let out = run_to_end(&[
        "-e",
        "begin { warnf(\"odd: %d, %s\", 10, \"x\");\n  errorf(\"%hx\\n\", 0x12345); printf(\"after\\n\"); }",
    ]);
    assert_eq!(out.code, Some(0), "{out:?}");
    out.expect_stderr("stdin:1:9-38: WARNING: odd: 10, x\n");
    out.expect_stderr("stdin:2:3-27: ERROR: 2345\n");
    out.expect_line("after");
}

#[test]
fn join_prints_an_argument_vector() {
    let Some(_serial) = privileged("join_prints_an_argument_vector") else {
        return;
    };
    let out = run(
        &[
            "-e",
            r#"t:syscalls:sys_enter_execve /comm == "rbte2eperl"/ { join(args.argv, ","); join(args.argv); exit(); }"#,
        ],
        || perl(r#"exec "/bin/true", "join-a", "join b""#),
        settle(),
    );
    out.expect_line("/bin/true,join-a,join b");
    out.expect_line("/bin/true join-a join b");
}
