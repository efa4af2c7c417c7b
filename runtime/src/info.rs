//! `rbt --info`: what this kernel and rbt support, in the lines of `bpftrace --info` (which
//! bpftrace's test runner reads). A kernel feature is "yes" only when rbt uses it too.

use rbt_compiler::lower::helper;

use crate::sys;

pub fn report() -> String {
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
    let mut out = String::new();
    out.push_str(&format!(
        "Build\n  version: rbt {}\n  LLVM: none\n  bfd: no\n  libdw (DWARF support): no\n  libsystemd (systemd notify support): no\n  blazesym (advanced symbolization): yes\n  dwunwind (DWARF stack unwinding): no\n\n",
        env!("CARGO_PKG_VERSION")
    ));
    // rbt calls ktime_get_tai_ns (nsecs(tai)) and map_lookup_percpu_elem (reading an
    // aggregation in a probe), none of the others.
    let helpers = [
        ("dpath", yes_no(false)),
        (
            "get_tai_ns",
            yes_no(sys::kernel_has_helper(helper::KTIME_GET_TAI_NS as i32)),
        ),
        ("get_func_ip", yes_no(false)),
        (
            "lookup_percpu_elem",
            yes_no(sys::kernel_has_helper(
                helper::MAP_LOOKUP_PERCPU_ELEM as i32,
            )),
        ),
        ("loop", yes_no(false)),
    ];
    // rbt reads no BTF yet; its instruction limit is the kernel's.
    let features = [
        ("Instruction limit", "1000000".to_string()),
        ("btf", yes_no(false)),
        ("module btf", yes_no(false)),
    ];
    let probes = [
        ("kprobe_multi", yes_no(false)),
        ("uprobe_multi", yes_no(false)),
        ("kprobe_session", yes_no(false)),
        ("iter", yes_no(false)),
    ];
    for (title, rows) in [
        ("Kernel helpers", &helpers[..]),
        ("Kernel features", &features[..]),
        ("Probe types", &probes[..]),
    ] {
        out.push_str(title);
        out.push('\n');
        tabulate(&mut out, rows);
        out.push('\n');
    }
    out
}

/// Two `name: value` columns a row, the first 35 characters wide, as bpftrace prints them.
fn tabulate(out: &mut String, rows: &[(&str, String)]) {
    for pair in rows.chunks(2) {
        let first = format!("  {}: {}", pair[0].0, pair[0].1);
        match pair.get(1) {
            Some((k, v)) => out.push_str(&format!("{first:<35}{k}: {v}\n")),
            None => out.push_str(&format!("{first}\n")),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn lines_the_test_runner_reads() {
        let text = super::report();
        assert!(text.contains("blazesym (advanced symbolization): yes"));
        let row = text.lines().find(|l| l.starts_with("  dpath: no")).unwrap();
        assert_eq!(&row[35..46], "get_tai_ns:");
        assert!(!text.contains("btf: yes"));
    }
}
