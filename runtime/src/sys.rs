//! Raw bpf(2) operations. Map operations: aya's typed maps want key and value types known at
//! compile time; rbt's are only known when a script is compiled, so maps are read and cleared
//! as bytes here. Program loads: aya 0.14 names vmlinux functions only for fentry and fexit,
//! so rbt loads and attaches those itself (module functions need the module's BTF object).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;

/// The `map_elem` member of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value_or_next_key: u64,
    flags: u64,
}

fn bpf(cmd: libc::c_long, attr: &mut MapElemAttr) -> io::Result<()> {
    // SAFETY: `attr` is a valid, initialized bpf_attr prefix of the size passed, and the
    // pointers inside it point at live buffers of the sizes the map expects.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut MapElemAttr,
            std::mem::size_of::<MapElemAttr>(),
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// A map, by file descriptor, with the sizes needed to read it. `value_len` is what one lookup
/// returns: for per-CPU maps, the value rounded up to 8 bytes times the possible CPUs.
pub struct RawMap {
    pub fd: RawFd,
    pub key_size: usize,
    pub value_len: usize,
}

impl RawMap {
    pub fn lookup(&self, key: &[u8]) -> Option<Vec<u8>> {
        let mut value = vec![0u8; self.value_len];
        let mut attr = MapElemAttr {
            map_fd: self.fd as u32,
            key: key.as_ptr() as u64,
            value_or_next_key: value.as_mut_ptr() as u64,
            ..Default::default()
        };
        bpf(BPF_MAP_LOOKUP_ELEM, &mut attr).ok().map(|()| value)
    }

    pub fn update(&self, key: &[u8], value: &[u8]) -> io::Result<()> {
        let mut attr = MapElemAttr {
            map_fd: self.fd as u32,
            key: key.as_ptr() as u64,
            value_or_next_key: value.as_ptr() as u64,
            ..Default::default()
        };
        bpf(BPF_MAP_UPDATE_ELEM, &mut attr)
    }

    pub fn delete(&self, key: &[u8]) -> io::Result<()> {
        let mut attr = MapElemAttr {
            map_fd: self.fd as u32,
            key: key.as_ptr() as u64,
            ..Default::default()
        };
        bpf(BPF_MAP_DELETE_ELEM, &mut attr)
    }

    /// Every key of a hash map (for an array: every index).
    pub fn keys(&self) -> Vec<Vec<u8>> {
        let mut keys = Vec::new();
        let mut current: Option<Vec<u8>> = None;
        loop {
            let mut next = vec![0u8; self.key_size];
            let mut attr = MapElemAttr {
                map_fd: self.fd as u32,
                key: current.as_ref().map_or(0, |k| k.as_ptr() as u64),
                value_or_next_key: next.as_mut_ptr() as u64,
                ..Default::default()
            };
            if bpf(BPF_MAP_GET_NEXT_KEY, &mut attr).is_err() {
                return keys;
            }
            keys.push(next.clone());
            current = Some(next);
        }
    }

    /// Every (key, value) pair present.
    pub fn entries(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.keys()
            .into_iter()
            .filter_map(|k| self.lookup(&k).map(|v| (k, v)))
            .collect()
    }
}

/// Number of possible CPUs: the per-CPU value count of every per-CPU map.
pub fn possible_cpus() -> usize {
    aya::util::nr_cpus().unwrap_or(1)
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_BTF_GET_FD_BY_ID: libc::c_long = 19;
const BPF_RAW_TRACEPOINT_OPEN: libc::c_long = 17;
const BPF_BTF_LOAD: libc::c_long = 18;
const BPF_BTF_GET_NEXT_ID: libc::c_long = 23;

/// bpf(2) with `attr` (a zero-padded `union bpf_attr` prefix); the descriptor it returns.
///
/// # Safety
/// Every pointer inside `attr` must point at a live buffer of the size given next to it.
unsafe fn bpf_fd(cmd: libc::c_long, attr: &[u8]) -> io::Result<OwnedFd> {
    // SAFETY: the caller vouches for the pointers in `attr`; the kernel copies at most its len.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_ptr(), attr.len()) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor from the kernel, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// A `union bpf_attr` being filled in, little-endian, at the kernel's field offsets.
struct Attr([u8; 144]);

impl Attr {
    fn new() -> Self {
        Attr([0; 144])
    }
    fn u32(&mut self, at: usize, v: u32) -> &mut Self {
        self.0[at..at + 4].copy_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(&mut self, at: usize, v: u64) -> &mut Self {
        self.0[at..at + 8].copy_from_slice(&v.to_le_bytes());
        self
    }
}

/// What BPF_PROG_LOAD is given. `insns` must already carry the map file descriptors.
#[derive(Default)]
pub struct ProgLoad<'a> {
    pub prog_type: u32,
    pub insns: &'a [u8],
    pub expected_attach_type: u32,
    /// The traced function's BTF id, in the BTF object `attach_btf_obj` (None: vmlinux).
    pub attach_btf_id: u32,
    pub attach_btf_obj: Option<BorrowedFd<'a>>,
    /// The program's own BTF and its function records, (first instruction, FUNC id) each:
    /// needed when it has callbacks.
    pub prog_btf: Option<BorrowedFd<'a>>,
    pub func_info: &'a [[u32; 2]],
    /// 0: no log; 1: the verifier's log; 5: with branch states and statistics.
    pub log_level: u32,
}

/// Loads a program: its descriptor, or the error with the verifier's log (empty when it gave
/// none or `log_level` was 0). A successful load's log is returned too.
pub fn load_program(load: &ProgLoad) -> Result<(OwnedFd, String), (io::Error, String)> {
    let license = c"GPL";
    let mut log = vec![0u8; if load.log_level > 0 { 1 << 22 } else { 0 }];
    let mut attr = Attr::new();
    attr.u32(0, load.prog_type)
        .u32(4, (load.insns.len() / 8) as u32)
        .u64(8, load.insns.as_ptr() as u64)
        .u64(16, license.as_ptr() as u64)
        .u32(68, load.expected_attach_type)
        .u32(108, load.attach_btf_id);
    if load.log_level > 0 {
        attr.u32(24, load.log_level)
            .u32(28, log.len() as u32)
            .u64(32, log.as_mut_ptr() as u64);
    }
    if let Some(fd) = load.attach_btf_obj {
        attr.u32(112, fd.as_raw_fd() as u32);
    }
    if let Some(fd) = load.prog_btf {
        attr.u32(72, fd.as_raw_fd() as u32)
            .u32(76, 8)
            .u64(80, load.func_info.as_ptr() as u64)
            .u32(88, load.func_info.len() as u32);
    }
    // SAFETY: the pointers in `attr` refer to `insns`, `license`, `log` and `func_info`, all
    // alive for the call, with their sizes beside them.
    let loaded = unsafe { bpf_fd(BPF_PROG_LOAD, &attr.0) };
    let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
    let text = String::from_utf8_lossy(&log[..end]).into_owned();
    match loaded {
        Ok(fd) => Ok((fd, text)),
        Err(e) => Err((e, text)),
    }
}

/// Loads a program a second time only to get the verifier's log of a successful load (aya
/// keeps only the log of a failure). The program is unloaded again at once.
pub fn verifier_log(load: ProgLoad) -> io::Result<String> {
    // Level 1 (branch states) and 4 (statistics).
    match load_program(&ProgLoad {
        log_level: 5,
        ..load
    }) {
        Ok((_, log)) => Ok(log),
        Err((e, log)) if log.is_empty() => Err(e),
        Err((_, log)) => Ok(log),
    }
}

/// Attaches a loaded fentry/fexit program (BPF_RAW_TRACEPOINT_OPEN with no name): the link,
/// which detaches when closed.
pub fn attach_tracing(prog: BorrowedFd) -> io::Result<OwnedFd> {
    let mut attr = Attr::new();
    attr.u32(8, prog.as_raw_fd() as u32);
    // SAFETY: the attr holds no pointers (the name pointer stays NULL).
    unsafe { bpf_fd(BPF_RAW_TRACEPOINT_OPEN, &attr.0) }
}

/// Loads BTF bytes into the kernel (a program's own, for its function records).
pub fn load_btf(btf: &[u8]) -> io::Result<OwnedFd> {
    let mut attr = Attr::new();
    attr.u64(0, btf.as_ptr() as u64).u32(16, btf.len() as u32);
    // SAFETY: the pointer refers to `btf`, alive for the call, its size beside it.
    unsafe { bpf_fd(BPF_BTF_LOAD, &attr.0) }
}

/// The kernel's BTF object of module `module` (found by name among the kernel's BTF objects).
pub fn module_btf(module: &str) -> io::Result<OwnedFd> {
    let mut id = 0u32;
    loop {
        let mut attr = Attr::new();
        attr.u32(0, id);
        // SAFETY: `next_id` is written into `attr` itself, which lives for the call.
        let rc =
            unsafe { libc::syscall(libc::SYS_bpf, BPF_BTF_GET_NEXT_ID, attr.0.as_mut_ptr(), 8) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return Err(match e.raw_os_error() {
                Some(libc::ENOENT) => io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("the kernel has no BTF object for module `{module}`"),
                ),
                _ => e,
            });
        }
        id = u32::from_le_bytes(attr.0[4..8].try_into().expect("4 bytes"));
        let mut by_id = Attr::new();
        by_id.u32(0, id);
        // SAFETY: no pointers.
        let Ok(fd) = (unsafe { bpf_fd(BPF_BTF_GET_FD_BY_ID, &by_id.0) }) else {
            continue;
        };
        if btf_name(fd.as_fd()).is_some_and(|n| n == module) {
            return Ok(fd);
        }
    }
}

/// The name of a kernel BTF object (`vmlinux`, a module's), from `struct bpf_btf_info`.
fn btf_name(fd: BorrowedFd) -> Option<String> {
    let mut name = [0u8; 64];
    // struct bpf_btf_info: btf (u64), btf_size, id, name (u64), name_len, kernel_btf.
    let mut info = [0u8; 32];
    info[16..24].copy_from_slice(&(name.as_mut_ptr() as u64).to_le_bytes());
    info[24..28].copy_from_slice(&(name.len() as u32).to_le_bytes());
    let mut attr = Attr::new();
    attr.u32(0, fd.as_raw_fd() as u32)
        .u32(4, info.len() as u32)
        .u64(8, info.as_mut_ptr() as u64);
    // SAFETY: `info` and `name` live for the call, their sizes given.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, BPF_OBJ_GET_INFO_BY_FD, attr.0.as_ptr(), 16) };
    if rc < 0 {
        return None;
    }
    let end = name.iter().position(|b| *b == 0).unwrap_or(name.len());
    Some(String::from_utf8_lossy(&name[..end]).into_owned())
}

/// Whether the kernel has BPF helper `id` for kprobe programs: loads `call id; r0 = 0; exit`.
/// A helper that wants arguments fails on them, not on its name, so only an unknown-function
/// refusal means no.
pub fn kernel_has_helper(id: i32) -> bool {
    const BPF_PROG_TYPE_KPROBE: u32 = 2;
    let insns: [u64; 3] = [
        0x85 | (u64::from(id as u32) << 32), // call id
        0xb7,                                // r0 = 0
        0x95,                                // exit
    ];
    let bytes: Vec<u8> = insns.iter().flat_map(|i| i.to_le_bytes()).collect();
    match load_program(&ProgLoad {
        prog_type: BPF_PROG_TYPE_KPROBE,
        insns: &bytes,
        log_level: 1,
        ..ProgLoad::default()
    }) {
        Ok(_) => true,
        Err((_, log)) => !(log.contains("invalid func") || log.contains("unknown func")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn helper_probe_tells_known_from_unknown() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        assert!(super::kernel_has_helper(5)); // ktime_get_ns
        assert!(super::kernel_has_helper(1)); // map_lookup_elem: wants arguments, exists
        assert!(!super::kernel_has_helper(100_000));
    }
}
