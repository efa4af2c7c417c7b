//! The compiler's `Kernel`: tracepoints and traceable functions from tracefs, types from BTF.

use std::cell::OnceCell;
use std::fs;
use std::path::{Path, PathBuf};

use rbt_compiler::kernel::{FieldKind, FunctionProto, Kernel, KernelFunction, TracepointField};

const TRACEFS: &str = "/sys/kernel/tracing";

/// Tracefs, mounted on first use if it is not mounted yet.
#[derive(Default)]
pub struct TraceFs {
    root: OnceCell<PathBuf>,
    functions: OnceCell<Vec<KernelFunction>>,
    /// The kernel's BTF, opened when a script first needs a kernel type.
    btf: OnceCell<Option<crate::btf::KernelBtf>>,
}

impl TraceFs {
    fn root(&self) -> &Path {
        self.root.get_or_init(|| {
            let root = PathBuf::from(TRACEFS);
            if !root.join("events").is_dir() {
                mount_tracefs(&root);
            }
            root
        })
    }
}

fn mount_tracefs(root: &Path) {
    mount("tracefs", root);
}

/// `debugf` writes to the kernel's trace buffer, which its users read at
/// /sys/kernel/debug/tracing/trace_pipe: debugfs is mounted when it is missing.
pub fn ensure_debugfs() {
    let root = Path::new("/sys/kernel/debug");
    if !root.join("tracing").is_dir() {
        mount("debugfs", root);
    }
}

fn mount(fs_type: &str, root: &Path) {
    let fs_type = std::ffi::CString::new(fs_type).expect("name without NUL");
    let target =
        std::ffi::CString::new(root.as_os_str().as_encoded_bytes()).expect("path without NUL");
    // SAFETY: all pointers are valid NUL-terminated strings; data may be NULL.
    let rc = unsafe {
        libc::mount(
            fs_type.as_ptr(),
            target.as_ptr(),
            fs_type.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc == 0 {
        eprintln!(
            "rbt: mounted {} at {}",
            fs_type.to_string_lossy(),
            root.display()
        );
    }
}

impl TraceFs {
    pub fn btf(&self) -> Option<&crate::btf::KernelBtf> {
        self.btf.get_or_init(crate::btf::KernelBtf::open).as_ref()
    }
}

impl Kernel for TraceFs {
    fn symbol_address(&self, name: &str) -> Option<u64> {
        fs::read_to_string("/proc/kallsyms")
            .ok()?
            .lines()
            .find_map(|l| {
                let mut f = l.split_whitespace();
                let addr = f.next()?;
                let _kind = f.next()?;
                (f.next()? == name).then(|| u64::from_str_radix(addr, 16).ok())?
            })
    }

    fn tracepoint_fields(&self, category: &str, name: &str) -> Option<Vec<TracepointField>> {
        let path = self
            .root()
            .join("events")
            .join(category)
            .join(name)
            .join("format");
        let text = fs::read_to_string(path).ok()?;
        Some(parse_format(&text))
    }

    fn tracepoints(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let Ok(categories) = fs::read_dir(self.root().join("events")) else {
            return out;
        };
        for category in categories.flatten() {
            let Ok(events) = fs::read_dir(category.path()) else {
                continue;
            };
            let cat = category.file_name().to_string_lossy().into_owned();
            for event in events.flatten() {
                if event.file_type().is_ok_and(|t| t.is_dir()) {
                    out.push((
                        cat.clone(),
                        event.file_name().to_string_lossy().into_owned(),
                    ));
                }
            }
        }
        out.sort();
        out
    }

    fn has_kprobes(&self) -> bool {
        kprobes_available()
    }

    fn kernel_functions(&self) -> &[KernelFunction] {
        self.functions
            .get_or_init(|| traceable_functions(self.root()))
    }

    fn function_proto(&self, module: Option<&str>, function: &str) -> Option<FunctionProto> {
        self.btf()?.function_proto(module, function)
    }

    fn c_type(&self, name: &str) -> Option<rbt_compiler::types::Type> {
        self.btf()?.c_type(name)
    }
}

/// The functions kprobes can attach to: ftrace's list when there is one (it leaves out what
/// cannot be traced), else the text symbols of /proc/kallsyms; either way without the kprobe
/// blacklist.
fn traceable_functions(root: &Path) -> Vec<KernelFunction> {
    let mut functions = match fs::read_to_string(root.join("available_filter_functions")) {
        Ok(text) if !text.is_empty() => parse_filter_functions(&text),
        _ => fs::read_to_string("/proc/kallsyms")
            .map(|text| parse_kallsyms(&text))
            .unwrap_or_default(),
    };
    let blacklist: std::collections::HashSet<String> =
        fs::read_to_string("/sys/kernel/debug/kprobes/blacklist")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
            .collect();
    functions.retain(|f| !blacklist.contains(&f.name));
    functions.sort_by(|a, b| (&a.module, &a.name).cmp(&(&b.module, &b.name)));
    functions.dedup();
    functions
}

/// Set, it makes rbt act as on a kernel without kprobes: how the fentry fallback is tested on
/// kernels that have both.
pub const NO_KPROBES_SWITCH: &str = "RBT_TEST_NO_KPROBES";

/// Whether kprobes can attach here: the kernel has the kprobe PMU, and the test switch is off.
pub fn kprobes_available() -> bool {
    std::env::var_os(NO_KPROBES_SWITCH).is_none()
        && Path::new("/sys/bus/event_source/devices/kprobe").exists()
}

/// Why `[module:]function` cannot be traced, with close names, or None when the kernel lists it
/// (or lists nothing).
pub fn missing_function(module: Option<&str>, function: &str) -> Option<String> {
    let root = Path::new(TRACEFS);
    // The common answer, found without building the whole list (slow in emulated guests).
    if let Ok(text) = fs::read_to_string(root.join("available_filter_functions"))
        && lists(&text, module, function)
        && !blacklisted(function)
    {
        return None;
    }
    describe_missing(&traceable_functions(root), module, function)
}

/// Whether available_filter_functions (`text`) lists `function`, in `module` if one is named.
fn lists(text: &str, module: Option<&str>, function: &str) -> bool {
    text.lines().any(|line| {
        let Some(rest) = line.strip_prefix(function) else {
            return false;
        };
        match (rest, module) {
            ("", None | Some("vmlinux")) => true,
            (rest, None) => rest.starts_with(" ["),
            (rest, Some(m)) => rest.strip_prefix(" [").and_then(|r| r.strip_suffix(']')) == Some(m),
        }
    })
}

fn blacklisted(function: &str) -> bool {
    fs::read_to_string("/sys/kernel/debug/kprobes/blacklist")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(function))
}

fn describe_missing(
    known: &[KernelFunction],
    module: Option<&str>,
    function: &str,
) -> Option<String> {
    let in_module = |f: &&KernelFunction| module.is_none_or(|m| f.module.as_deref() == Some(m));
    if known.is_empty() || known.iter().filter(in_module).any(|f| f.name == function) {
        return None;
    }
    let mut message = match module {
        Some(m) => format!("module `{m}` has no function `{function}` that can be traced"),
        None => format!("the kernel has no function `{function}` that can be traced"),
    };
    let names = known.iter().filter(in_module).map(|f| f.name.as_str());
    let close = rbt_compiler::diag::closest_few(function, names, 3);
    if !close.is_empty() {
        message.push_str(&format!(" (did you mean {}?)", close.join(", ")));
    }
    Some(message)
}

/// A function named in a kernel list, with the `[module]` word that may follow its name.
fn kernel_function(name: &str, module: Option<&str>) -> KernelFunction {
    KernelFunction {
        name: name.to_string(),
        module: module
            .and_then(|m| m.strip_prefix('[')?.strip_suffix(']'))
            .map(str::to_string),
    }
}

/// `available_filter_functions`: `name` or `name [module]` per line.
fn parse_filter_functions(text: &str) -> Vec<KernelFunction> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?;
            Some(kernel_function(name, words.next()))
        })
        .collect()
}

/// `/proc/kallsyms`: `address type name [module]`; functions are of type t or T. Padding
/// (`__pfx_`) and split-off cold parts (`.cold`) are not functions one can trace.
fn parse_kallsyms(text: &str) -> Vec<KernelFunction> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let kind = words.nth(1)?;
            let name = words.next()?;
            if !matches!(kind, "t" | "T") || name.starts_with("__pfx_") || name.contains(".cold") {
                return None;
            }
            Some(kernel_function(name, words.next()))
        })
        .collect()
}

/// Parses a tracefs `format` file: lines such as
/// `field:const char * filename; offset:24; size:8; signed:0;` (tab-separated).
pub fn parse_format(text: &str) -> Vec<TracepointField> {
    let mut fields = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("field:") else {
            continue;
        };
        let mut parts = rest.split(';').map(str::trim);
        let decl = parts.next().unwrap_or("");
        let mut offset = None;
        let mut size = None;
        let mut signed = false;
        for p in parts {
            if let Some(v) = p.strip_prefix("offset:") {
                offset = v.parse().ok();
            } else if let Some(v) = p.strip_prefix("size:") {
                size = v.parse().ok();
            } else if let Some(v) = p.strip_prefix("signed:") {
                signed = v == "1";
            }
        }
        let (Some(offset), Some(size)) = (offset, size) else {
            continue;
        };
        let (ty, name) = match decl.rfind(|c: char| c.is_whitespace() || c == '*') {
            Some(i) => (decl[..=i].trim(), decl[i + 1..].trim()),
            None => continue,
        };
        let (name, is_array) = match name.find('[') {
            Some(i) => (&name[..i], true),
            None => (name, false),
        };
        let kind = if ty.starts_with("__data_loc") {
            FieldKind::DataLocStr
        } else if is_array && ty.ends_with("char") {
            FieldKind::CharArray
        } else if ty.contains("char *") || ty.contains("char*") {
            FieldKind::StrPtr
        } else if !is_array && matches!(size, 1 | 2 | 4 | 8) {
            FieldKind::Int
        } else {
            FieldKind::Other
        };
        fields.push(TracepointField {
            name: name.to_string(),
            offset,
            size,
            signed,
            kind,
            ty: None,
        });
    }
    fields
}

#[cfg(test)]
mod tests {
    #[test]
    fn listed_functions_are_found_by_name_and_module() {
        let text = "tcp_connect\ntcp_connect_init\nveth_open [veth]\n";
        assert!(super::lists(text, None, "tcp_connect"));
        assert!(super::lists(text, Some("vmlinux"), "tcp_connect"));
        assert!(!super::lists(text, None, "tcp_conn"));
        assert!(super::lists(text, None, "veth_open"));
        assert!(super::lists(text, Some("veth"), "veth_open"));
        assert!(!super::lists(text, Some("vet"), "veth_open"));
        assert!(!super::lists(text, Some("vmlinux"), "veth_open"));
    }

    use super::*;

    #[test]
    fn lists_functions_with_their_modules() {
        let f = parse_filter_functions("tcp_connect\nvfs_read\nveth_open [veth]\n");
        assert_eq!(f[0].name, "tcp_connect");
        assert_eq!(f[0].module, None);
        assert_eq!(f[2].module.as_deref(), Some("veth"));
        let k = parse_kallsyms(
            "ffffffff81000000 T tcp_connect\nffffffff81000010 t __pfx_tcp_connect\n\
             ffffffff81000020 D jiffies\nffffffffc0000000 t veth_open\t[veth]\n\
             ffffffff81000030 t tcp_fn.cold\n",
        );
        let names: Vec<(&str, Option<&str>)> = k
            .iter()
            .map(|f| (f.name.as_str(), f.module.as_deref()))
            .collect();
        assert_eq!(names, [("tcp_connect", None), ("veth_open", Some("veth"))]);

        assert_eq!(describe_missing(&f, None, "tcp_connect"), None);
        assert_eq!(
            describe_missing(&f, None, "tcp_conect").as_deref(),
            Some(
                "the kernel has no function `tcp_conect` that can be traced (did you mean tcp_connect?)"
            )
        );
        assert_eq!(
            describe_missing(&f, Some("veth"), "vfs_read").as_deref(),
            Some("module `veth` has no function `vfs_read` that can be traced")
        );
        assert_eq!(describe_missing(&[], None, "anything"), None);
    }

    #[test]
    fn parses_every_kind_of_field() {
        let text = "name: x\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
            \tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\
            \tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;\n\
            \tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:0;\n\
            \tfield:__data_loc char[] name;\toffset:12;\tsize:4;\tsigned:0;\n";
        let f = parse_format(text);
        let kinds: Vec<(&str, FieldKind)> = f.iter().map(|f| (f.name.as_str(), f.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("common_type", FieldKind::Int),
                ("__syscall_nr", FieldKind::Int),
                ("filename", FieldKind::StrPtr),
                ("comm", FieldKind::CharArray),
                ("name", FieldKind::DataLocStr),
            ]
        );
        assert!(f[1].signed);
        assert_eq!(f[2].offset, 24);
    }
}
