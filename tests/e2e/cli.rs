//! Command-line options beyond the program (-p checks, --probe-filter, named program options),
//! and the probes rbt fires itself or through perf: software events, self:signal.

use crate::harness::{privileged, run_to_end};

#[test]
fn bad_pids_are_refused_in_bpftraces_words() {
    let Some(_serial) = privileged("bad_pids_are_refused_in_bpftraces_words") else {
        return;
    };
    let out = run_to_end(&["-p", "a1111", "-e", "begin { print(1); }"]);
    assert_eq!(out.code, Some(1));
    out.expect_stderr("ERROR: Failed to parse pid: invalid integer: a1111");
    let out = run_to_end(&["-p", "5000000", "-e", "begin { print(1); }"]);
    assert_eq!(out.code, Some(1));
    out.expect_stderr("ERROR: Pid out of range: 5000000");
}

#[test]
fn probe_filter_attaches_only_matching_probes() {
    let Some(_serial) = privileged("probe_filter_attaches_only_matching_probes") else {
        return;
    };
    let out = run_to_end(&[
        "--probe-filter",
        "interval:ms:(20|30)$",
        "-e",
        r#"begin { printf("begin\n"); } interval:ms:10 { printf("bad\n"); exit(); }
           interval:ms:20 { printf("a\n"); } interval:ms:30 { printf("b\n"); exit(); }
           end { printf("end\n"); }"#,
    ]);
    out.expect_line("begin");
    out.expect_line("b");
    out.expect_line("end");
    assert!(!out.stdout.contains("bad"), "{out:?}");
    out.expect_stderr("Attached 4 probes");
}

#[test]
fn named_program_options_reach_getopt() {
    let Some(_serial) = privileged("named_program_options_reach_getopt") else {
        return;
    };
    let prog = r#"begin { print(($1, getopt("aa", 20), getopt("bb", -1), getopt("cc", true), getopt("dd"), getopt("ee", "hello"), getopt("ff", 5))); }"#;
    let out = run_to_end(&[
        "-e",
        prog,
        "pos1",
        "--",
        "--dd",
        "--aa=0xffffffffffffffff",
        "--bb=-10",
        "--cc=False",
        "--ee=bye",
    ]);
    out.expect_line("(pos1, 18446744073709551615, -10, false, true, bye, 5)");

    let out = run_to_end(&["-e", r#"begin { print(getopt("aa", 10)); }"#, "--", "--bb"]);
    assert_eq!(out.code, Some(1));
    out.expect_stderr("ERROR: unexpected program command line options: --bb\nHINT: expected program options: --aa");

    let out = run_to_end(&[
        "-e",
        r#"begin { print(getopt("aa", 10)); }"#,
        "--",
        "--aa=x",
    ]);
    assert_eq!(out.code, Some(1));
    out.expect_stderr("program command line option --aa invalid integer (value: x)");
}

#[test]
fn cat_of_a_missing_file_says_so() {
    let Some(_serial) = privileged("cat_of_a_missing_file_says_so") else {
        return;
    };
    let out = run_to_end(&["-e", r#"begin { cat("/does/not/exist/file"); exit(); }"#]);
    out.expect_stderr(
        "ERROR: failed to open file '/does/not/exist/file' (No such file or directory)",
    );
}

#[test]
fn software_events_fire_and_name_themselves() {
    let Some(_serial) = privileged("software_events_fire_and_name_themselves") else {
        return;
    };
    let out = run_to_end(&["-e", "software:cpu:100000 { print(probe); exit(); }"]);
    out.expect_line("software:cpu:100000");
    let out = run_to_end(&[
        "-e",
        "software:cpu-clock:1000000 { @ = count(); } interval:ms:300 { exit(); }",
    ]);
    assert!(out.stdout.contains("@: "), "{out:?}");
}

/// The rbt this test process started (its child named `rbt`).
fn our_rbt() -> Option<i32> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
        let (name, rest) = stat.split_once(") ")?;
        let ppid = rest.split_whitespace().nth(1)?;
        (name.ends_with("(rbt") && ppid == me).then(|| e.file_name().to_str()?.parse().ok())?
    })
}

#[test]
fn self_signal_probes_run_on_the_signal() {
    let Some(_serial) = privileged("self_signal_probes_run_on_the_signal") else {
        return;
    };
    let out = crate::harness::run(
        &[
            "-e",
            r#"self:signal:SIGUSR1 { printf("first"); } self:signal:SIGUSR1 { printf(" second\n"); exit(); }"#,
        ],
        || {
            let pid = our_rbt().expect("rbt is not running");
            // SAFETY: signalling our own child.
            unsafe { libc::kill(pid, libc::SIGUSR1) };
        },
        std::time::Duration::from_secs(10),
    );
    out.expect_line("first second");
    assert_eq!(out.code, Some(0));
}

#[test]
fn missing_probes_config_skips_what_is_not_there() {
    let Some(_serial) = privileged("missing_probes_config_skips_what_is_not_there") else {
        return;
    };
    // A tracepoint the kernel lacks (found at compile time) and a symbol the binary lacks
    // (found when the uprobe attaches), beside a probe that works.
    let script = |mode: &str| {
        format!(
            r#"config = {{ missing_probes = "{mode}" }}
            tracepoint:nonsense:nonsense, uprobe:/bin/sh:no_such_symbol_here {{ }}
            begin {{ printf("ran\n"); exit(); }}"#
        )
    };
    let out = run_to_end(&["-e", &script("warn")]);
    assert_eq!(out.code, Some(0), "{out:?}");
    out.expect_line("ran");
    out.expect_stderr("warning[E0203]: tracepoint nonsense:nonsense does not exist");
    out.expect_stderr(
        "stdin:2:43-77: WARNING: No matches for uprobe /bin/sh:no_such_symbol_here. Skipping.",
    );
    out.expect_stderr("Attached 1 probe");

    let out = run_to_end(&["-e", &script("ignore")]);
    assert_eq!(out.code, Some(0), "{out:?}");
    out.expect_line("ran");
    assert!(!out.stderr.contains("WARNING"), "{out:?}");
    assert!(!out.stderr.contains("warning"), "{out:?}");

    // The default: an error at the probe.
    let out = run_to_end(&["-e", &script("error")]);
    assert_eq!(out.code, Some(1), "{out:?}");
    out.expect_stderr("error[E0203]: tracepoint nonsense:nonsense does not exist");
    let out = run_to_end(&["-e", &script("sometimes")]);
    assert_eq!(out.code, Some(1), "{out:?}");
    out.expect_stderr("missing_probes is one of error, warn or ignore");
}
