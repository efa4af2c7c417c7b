//! The kernel's tracepoints, read from tracefs: the compiler's `Kernel`.

use std::cell::OnceCell;
use std::fs;
use std::path::{Path, PathBuf};

use rbt_compiler::kernel::{FieldKind, Kernel, TracepointField};

const TRACEFS: &str = "/sys/kernel/tracing";

/// Tracefs, mounted on first use if it is not mounted yet.
#[derive(Default)]
pub struct TraceFs {
    root: OnceCell<PathBuf>,
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
    let target =
        std::ffi::CString::new(root.as_os_str().as_encoded_bytes()).expect("path without NUL");
    // SAFETY: all pointers are valid NUL-terminated strings; data may be NULL.
    let rc = unsafe {
        libc::mount(
            c"tracefs".as_ptr(),
            target.as_ptr(),
            c"tracefs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc == 0 {
        eprintln!("rbt: mounted tracefs at {}", root.display());
    }
}

impl Kernel for TraceFs {
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
        });
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

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
