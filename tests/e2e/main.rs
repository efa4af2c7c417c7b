//! End-to-end tests: the real `rbt` binary, as root, on the real kernel.

mod cli;
mod ctypes;
mod funcs;
mod harness;
mod json;
mod loops;
mod macros;
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
            r#"tracepoint:syscalls:sys_enter_getpid /comm == "rbte2eperl"/ { @[comm] = count(); @total = count(); }"#,
        ],
        || perl(GETPID_100),
        settle(),
    );
    out.expect_line("@[rbte2eperl]: 100");
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
            r#"t:syscalls:sys_enter_openat /comm == "rbte2eperl"/ { printf("open %s\n", str(args.filename)); }"#,
        ],
        || perl(r#"open(my $f, "<", "/etc/hostname-rbt-test")"#),
        settle(),
    );
    out.expect_line("open /etc/hostname-rbt-test");
}

/// `args` as one value: printed, a map value and a map key, its fields as `args.NAME` reads
/// them (the tracepoint's common fields left out).
#[test]
fn tracepoint_args_as_a_whole() {
    let Some(_serial) = privileged("tracepoint_args_as_a_whole") else {
        return;
    };
    let out = run(
        &[
            "-e",
            r#"t:syscalls:sys_exit_openat /comm == "rbte2eperl"/ { print(args); @v = args; @k[args] = count(); }"#,
        ],
        || perl(r#"open(my $f, "<", "/nonexistent-rbt-test")"#),
        settle(),
    );
    // ENOENT: -2 in an 8-byte `long ret`.
    let record = "{ .__syscall_nr = 257, .ret = -2 }";
    out.expect_line(record);
    out.expect_line(&format!("@v: {record}"));
    // perl fails to open other files too on its way.
    let key = format!("@k[{record}]: ");
    assert!(out.stdout.lines().any(|l| l.starts_with(&key)), "{out:?}");
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
fn tseries_of_tracepoint_events_as_text_and_json() {
    let Some(_serial) = privileged("tseries_of_tracepoint_events_as_text_and_json") else {
        return;
    };
    // Intervals of an hour: the 100 calls fall into one (its start is a whole hour).
    let program = r#"t:syscalls:sys_enter_getpid /comm == "rbte2eperl"/ {
        @s[comm] = tseries(1, 1h, 3, "sum"); @m = tseries(pid % 1, 1h, 2, "max"); }"#;
    let out = run(&["-e", program], || perl(GETPID_100), settle());
    out.expect_line("@s[rbte2eperl]:");
    // One interval: no spacing between intervals to measure, so the time shows nanoseconds.
    out.expect_line(&format!("hh:mm:ss.ns        |{}|", "_".repeat(51)));
    let point = format!("|{}*{}| 100", " ".repeat(25), " ".repeat(25));
    assert!(
        out.stdout
            .lines()
            .any(|l| l.ends_with(&point) && l.contains(":00:00.000000000 ")),
        "{out:?}"
    );
    out.expect_line(&format!("99{}101", " ".repeat(48)));
    out.expect_line("@m:");

    let out = run(
        &["-f", "json", "-e", program],
        || perl(GETPID_100),
        settle(),
    );
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains(r#""@s""#))
        .unwrap_or_else(|| panic!("no @s in {out:?}"));
    assert!(
        line.starts_with(
            r#"{"type": "tseries", "data": {"@s": {"rbte2eperl": [{"interval_start":""#
        ) && line.ends_with(r#":00:00.000000000","value":100}]}}}"#),
        "{line}"
    );
}

#[test]
fn len_counts_the_keys_of_a_map_in_the_kernel() {
    let Some(_serial) = privileged("len_counts_the_keys_of_a_map_in_the_kernel") else {
        return;
    };
    let out = run(
        &[
            "-e",
            r#"t:syscalls:sys_enter_getpid /comm == "rbte2eperl"/ { @seen[@n % 7] = 1; @n++;
               if (@n == 100) { printf("len %d %d\n", len(@seen), len(@n_by_tid)); exit(); }
               @n_by_tid[tid] = count(); }"#,
        ],
        || perl(GETPID_100),
        settle(),
    );
    out.expect_line("len 7 1");
}

#[test]
fn keyed_hist_from_a_tracepoint() {
    let Some(_serial) = privileged("keyed_hist_from_a_tracepoint") else {
        return;
    };
    let out = run(
        &[
            "-e",
            r#"t:syscalls:sys_enter_getpid /comm == "rbte2eperl"/ { @h[comm] = hist(4); }"#,
        ],
        || perl(GETPID_100),
        settle(),
    );
    out.expect_line("@h[rbte2eperl]:");
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
    let prog = format!(r#"uprobe:{libc}:getppid /comm == "rbte2eperl"/ {{ @calls = count(); }}"#);
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
        &format!("{} -e '{GETPID_100}'", harness::perl_path().display()),
        "-e",
        r#"t:syscalls:sys_enter_getpid /comm == "rbte2eperl"/ { @ = count(); }"#,
    ]);
    out.expect_line("@: 100");
}

#[test]
fn kprobe_one_liner_loads_but_cannot_attach_here() {
    let Some(_serial) = privileged("kprobe_one_liner_loads_but_cannot_attach_here") else {
        return;
    };
    let prog = "kprobe:tcp_connect < @[comm] = count(); >";
    let kprobes = std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists();
    let dry = run_to_end(&["--dry-run", "-e", prog]);
    let real = run_to_end(&["-e", prog]);
    assert_eq!(real.code, Some(1), "{real:?}");
    real.expect_stderr("kprobe:tcp_connect");
    if kprobes {
        assert_eq!(dry.code, Some(0), "{dry:?}");
    } else {
        // fentry stands in for the kprobe, and a kernel that refuses it too says so for both.
        real.expect_stderr("this kernel has no kprobe support");
        if real
            .stderr
            .contains("fentry:tcp_connect could not stand in")
        {
            assert_eq!(dry.code, Some(1), "{dry:?}");
        }
    }
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

/// --dry-run attaches nothing, but still says that a kprobe's function is not there.
#[test]
fn dry_run_names_a_missing_kernel_function() {
    let Some(_serial) = privileged("dry_run_names_a_missing_kernel_function") else {
        return;
    };
    let out = run_to_end(&["--dry-run", "-e", "kprobe:tcp_conect { }"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    out.expect_stderr("the kernel has no function `tcp_conect` that can be traced");
    out.expect_stderr("did you mean tcp_connect");
    let out = run_to_end(&[
        "--dry-run",
        "-e",
        r#"config = { missing_probes = "ignore" } kprobe:tcp_conect { } begin { }"#,
    ]);
    assert_eq!(out.code, Some(0), "{out:?}");
}

#[test]
fn program_from_stdin_and_from_a_script_file() {
    let Some(_serial) = privileged("program_from_stdin_and_from_a_script_file") else {
        return;
    };
    use std::io::Write;
    let mut child = std::process::Command::new(harness::RBT)
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"begin { printf(\"from stdin\\n\"); exit(); }")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("from stdin"),
        "{out:?}"
    );

    let dir = std::env::temp_dir().join(format!("rbt-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("hello.rbt");
    std::fs::write(
        &script,
        "#!/usr/bin/env rbt\n// a comment\nbegin { printf(\"from a file\\n\"); exit(); }\n",
    )
    .unwrap();
    let out = run_to_end(&[script.to_str().unwrap()]);
    out.expect_line("from a file");
}

#[test]
fn listing_probes() {
    let Some(_serial) = privileged("listing_probes") else {
        return;
    };
    let out = run_to_end(&["-l", "tracepoint:syscalls:sys_enter_open*"]);
    out.expect_line("tracepoint:syscalls:sys_enter_openat");
    assert!(!out.stdout.contains("sys_exit"), "{out:?}");
}

#[test]
fn emitted_stages_and_object_that_bpftool_loads() {
    let Some(_serial) = privileged("emitted_stages_and_object_that_bpftool_loads") else {
        return;
    };
    let prog = "tracepoint:syscalls:sys_enter_getpid { @[comm] = count(); }";
    let ast = run_to_end(&["--emit", "ast", "-e", prog]);
    assert!(ast.stdout.contains("provider: \"tracepoint\""), "{ast:?}");
    let ir = run_to_end(&["--emit", "ir", "-e", prog]);
    assert!(ir.stdout.contains("call fn"), "{ir:?}");
    let bpf = run_to_end(&["--emit", "bpf", "-e", prog]);
    assert!(
        bpf.stdout.contains("call 16"),
        "get_current_comm in {bpf:?}"
    );
    assert!(bpf.stdout.contains("map[@] ll"), "{bpf:?}");
    assert!(bpf.stdout.contains("exit"), "{bpf:?}");

    let dir = std::env::temp_dir().join(format!("rbt-obj-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let obj = dir.join("prog.o");
    let out = run_to_end(&["--emit", &format!("obj={}", obj.display()), "-e", prog]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let has_bpftool = std::process::Command::new("bpftool")
        .arg("version")
        .output()
        .is_ok();
    if !has_bpftool {
        eprintln!("bpftool missing: the object's libbpf check is skipped");
        return;
    }
    let pin = format!("/sys/fs/bpf/rbt-e2e-{}", std::process::id());
    if !std::path::Path::new("/sys/fs/bpf").join(".").exists()
        || std::fs::read_dir("/sys/fs/bpf").is_err()
    {
        let _ = std::process::Command::new("mount")
            .args(["-t", "bpf", "bpf", "/sys/fs/bpf"])
            .status();
    }
    let load = std::process::Command::new("bpftool")
        .args(["prog", "loadall", obj.to_str().unwrap(), &pin])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&pin);
    assert!(
        load.status.success(),
        "bpftool prog loadall: {}",
        String::from_utf8_lossy(&load.stderr)
    );
}

/// (id, name) of every eBPF program loaded in the kernel now.
fn loaded_programs() -> Vec<(u32, String)> {
    let mut programs = Vec::new();
    let mut id = 0u32;
    loop {
        // BPF_PROG_GET_NEXT_ID = 11, BPF_PROG_GET_FD_BY_ID = 13, BPF_OBJ_GET_INFO_BY_FD = 15.
        let mut attr = [0u32; 4];
        attr[0] = id;
        // SAFETY: bpf(2) with a zeroed attr of the size given.
        if unsafe { libc::syscall(libc::SYS_bpf, 11, attr.as_mut_ptr(), 16) } != 0 {
            return programs;
        }
        id = attr[1];
        let mut attr = [0u32; 4];
        attr[0] = id;
        // SAFETY: as above.
        let fd = unsafe { libc::syscall(libc::SYS_bpf, 13, attr.as_mut_ptr(), 16) };
        if fd < 0 {
            continue;
        }
        let mut info = [0u8; 256];
        let mut attr = [0u64; 2];
        attr[0] = fd as u64 | ((info.len() as u64) << 32);
        attr[1] = info.as_mut_ptr() as u64;
        // SAFETY: info buffer of the length given.
        unsafe { libc::syscall(libc::SYS_bpf, 15, attr.as_mut_ptr(), 16) };
        // SAFETY: closing our descriptor.
        unsafe { libc::close(fd as i32) };
        // struct bpf_prog_info: name[16] at offset 64.
        let name = &info[64..80];
        let end = name.iter().position(|b| *b == 0).unwrap_or(16);
        programs.push((id, String::from_utf8_lossy(&name[..end]).into_owned()));
    }
}

#[test]
fn nothing_stays_loaded_after_exit() {
    let Some(_serial) = privileged("nothing_stays_loaded_after_exit") else {
        return;
    };
    let before: Vec<u32> = loaded_programs().into_iter().map(|(id, _)| id).collect();
    let ours = std::cell::RefCell::new(Vec::new());
    let out = run(
        &[
            "-e",
            "t:syscalls:sys_enter_getppid { @ = count(); } interval:ms:300 { exit(); } end { printf(\"bye\\n\"); }",
        ],
        || {
            // Programs of this script that appeared since it started.
            *ours.borrow_mut() = loaded_programs()
                .into_iter()
                .filter(|(id, name)| {
                    !before.contains(id)
                        && (name.starts_with("p0_sys_enter")
                            || name.starts_with("p1_")
                            || name.starts_with("p2_"))
                })
                .map(|(id, _)| id)
                .collect::<Vec<_>>();
        },
        Duration::from_secs(10),
    );
    out.expect_line("bye");
    let ours = ours.into_inner();
    assert!(
        ours.len() >= 3,
        "did not see the script's programs: {ours:?}"
    );
    let left: Vec<u32> = loaded_programs()
        .into_iter()
        .map(|(id, _)| id)
        .filter(|id| ours.contains(id))
        .collect();
    assert!(left.is_empty(), "still loaded: {left:?}");
}

#[test]
fn full_maps_are_reported_not_silently_dropped() {
    let Some(_serial) = privileged("full_maps_are_reported_not_silently_dropped") else {
        return;
    };
    // 5000 distinct keys into a map of 4096 entries.
    let out = run(
        &[
            "-e",
            r#"t:syscalls:sys_enter_getpid /comm == "rbte2eperl"/ { @seen[nsecs] = count(); }"#,
        ],
        || perl("syscall(39) for 1..5000"),
        settle(),
    );
    out.expect_stderr("WARNING: Map full; can't update element: ");
    out.expect_stderr("updates to @seen dropped");
    assert_eq!(
        out.stdout
            .lines()
            .filter(|l| l.starts_with("@seen["))
            .count(),
        4096
    );
}

#[test]
fn elapsed_output_file_and_target_pid() {
    let Some(_serial) = privileged("elapsed_output_file_and_target_pid") else {
        return;
    };
    let out = run_to_end(&[
        "-e",
        "begin { printf(\"%d\\n\", elapsed > 0 && elapsed < 10000000000); exit(); }",
    ]);
    out.expect_line("1");

    let file = std::env::temp_dir().join(format!("rbt-out-{}.txt", std::process::id()));
    let out = run_to_end(&[
        "-o",
        file.to_str().unwrap(),
        "-e",
        "begin { printf(\"to a file\\n\"); exit(); }",
    ]);
    assert!(!out.stdout.contains("to a file"), "{out:?}");
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(written.contains("to a file"), "{written}");

    // -p: only the target process's events count.
    let mut sleeper = std::process::Command::new(harness::perl_path())
        .args(["-e", "sleep 1; syscall(39) for 1..7; sleep 2"])
        .spawn()
        .unwrap();
    let pid = sleeper.id().to_string();
    let out = run(
        &[
            "-p",
            &pid,
            "-e",
            "t:syscalls:sys_enter_getpid { @ = count(); }",
        ],
        || perl(GETPID_100),
        Duration::from_millis(2500),
    );
    let _ = sleeper.wait();
    out.expect_line("@: 7");
}

#[test]
fn not_root_is_said_plainly() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!(
            "skipped (needs root to switch to an unprivileged user): not_root_is_said_plainly"
        );
        return;
    }
    use std::os::unix::process::CommandExt;
    let out = std::process::Command::new(harness::RBT)
        .args(["-e", "begin { exit(); }"])
        .uid(65534)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("rbt needs root"),
        "{out:?}"
    );
}

#[test]
fn every_example_compiles_and_those_that_can_run_here_run() {
    let Some(_serial) = privileged("every_example_compiles_and_those_that_can_run_here_run") else {
        return;
    };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut examples: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    examples.sort();
    assert!(examples.len() >= 10, "only {} examples", examples.len());
    let kprobes = std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists();
    // Some kernels refuse fentry programs at load (EPERM): those examples are only compiled
    // here; the guest tests load them.
    let fentry = run_to_end(&["--dry-run", "-e", "fentry:vfs_read { }"]).code == Some(0);
    for path in examples {
        let file = path.to_str().unwrap();
        let source = std::fs::read_to_string(&path).unwrap();
        // Where kprobes are missing, fentry stands in for them.
        let needs_fentry = source.contains("fentry:")
            || source.contains("fexit:")
            || (!kprobes && source.contains("kprobe:"));
        if needs_fentry && !fentry {
            let compiled = run_to_end(&["--emit", "bpf", file]);
            assert_eq!(compiled.code, Some(0), "{file}: {compiled:?}");
            continue;
        }
        let dry = run_to_end(&["--dry-run", file]);
        assert_eq!(dry.code, Some(0), "{file}: {dry:?}");
        if source.contains("kprobe:") && !kprobes {
            continue;
        }
        let out = run(
            &[file],
            || perl("open(my $f, '<', '/etc/hostname'); syscall(39)"),
            Duration::from_millis(800),
        );
        assert_eq!(out.code, Some(0), "{file}: {out:?}");
        out.expect_stderr("Attached");
    }
}

#[test]
fn config_declarations_let_return_and_positional_parameters() {
    let Some(_serial) = privileged("config_declarations_let_return_and_positional_parameters")
    else {
        return;
    };
    let out = run_to_end(&[
        "-e",
        "config = { max_strlen = 4; print_maps_on_exit = true } let @lru = lruhash(2); \
         begin { let $n = $1 + 1; printf(\"%d %s %d %s\\n\", $n, $2, $#, str(\"abcdef\")); \
         @lru[1] = 1; @lru[2] = 2; @lru[3] = 3; @late = @early + 1; return; printf(\"unreached\\n\"); } \
         end { @early = 7; }",
        "41",
        "word",
    ]);
    out.expect_line("42 word 2 abc");
    assert!(!out.stdout.contains("unreached"), "{out:?}");
    assert_eq!(
        out.stdout
            .lines()
            .filter(|l| l.starts_with("@lru["))
            .count(),
        2,
        "{out:?}"
    );
    out.expect_line("@late: 1");
    out.expect_line("@early: 7");
}
