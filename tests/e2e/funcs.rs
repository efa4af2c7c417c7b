//! Builtin functions beyond printf and the aggregations: strings, map queries, bswap.

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
    let got: Vec<&str> = out.stdout.lines().collect();
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
