//! Raw map operations through the bpf(2) syscall. aya's typed maps want key and value types
//! known at compile time; rbt's are only known when a script is compiled, so maps are read and
//! cleared as bytes here.

use std::io;
use std::os::fd::RawFd;

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

/// Loads a program a second time only to get the verifier's log of a successful load (aya
/// keeps only the log of a failure). `insns` must already carry the map file descriptors.
/// The program is unloaded again at once.
pub fn verifier_log(prog_type: u32, insns: &[u8]) -> io::Result<String> {
    const BPF_PROG_LOAD: libc::c_long = 5;
    let license = c"GPL";
    let mut log = vec![0u8; 1 << 22];
    let mut attr = [0u8; 128];
    let mut put = |at: usize, bytes: &[u8]| attr[at..at + bytes.len()].copy_from_slice(bytes);
    put(0, &prog_type.to_le_bytes());
    put(4, &((insns.len() / 8) as u32).to_le_bytes());
    put(8, &(insns.as_ptr() as u64).to_le_bytes());
    put(16, &(license.as_ptr() as u64).to_le_bytes());
    // Level 1 (branch states) and 4 (statistics).
    put(24, &5u32.to_le_bytes());
    put(28, &(log.len() as u32).to_le_bytes());
    put(32, &(log.as_mut_ptr() as u64).to_le_bytes());
    // SAFETY: `attr` is a zero-padded bpf_attr for BPF_PROG_LOAD whose pointers refer to live
    // buffers of the sizes given.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, BPF_PROG_LOAD, attr.as_ptr(), attr.len()) };
    let err = io::Error::last_os_error();
    if fd >= 0 {
        // SAFETY: closing the descriptor the kernel just gave us.
        unsafe { libc::close(fd as i32) };
    }
    let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
    let text = String::from_utf8_lossy(&log[..end]).into_owned();
    if fd < 0 && text.is_empty() {
        Err(err)
    } else {
        Ok(text)
    }
}

/// Whether the kernel has BPF helper `id` for kprobe programs: loads `call id; r0 = 0; exit`.
/// A helper that wants arguments fails on them, not on its name, so only an unknown-function
/// refusal means no.
pub fn kernel_has_helper(id: i32) -> bool {
    const BPF_PROG_LOAD: libc::c_long = 5;
    const BPF_PROG_TYPE_KPROBE: u32 = 2;
    let insns: [u64; 3] = [
        0x85 | (u64::from(id as u32) << 32), // call id
        0xb7,                                // r0 = 0
        0x95,                                // exit
    ];
    let license = b"GPL\0";
    let mut log = vec![0u8; 4096];
    // The first fields of `union bpf_attr` for BPF_PROG_LOAD, the rest zero.
    let mut attr = [0u64; 16];
    attr[0] = u64::from(BPF_PROG_TYPE_KPROBE) | ((insns.len() as u64) << 32);
    attr[1] = insns.as_ptr() as u64;
    attr[2] = license.as_ptr() as u64;
    attr[3] = 1 | ((log.len() as u64) << 32); // log_level, log_size
    attr[4] = log.as_mut_ptr() as u64;
    // SAFETY: `attr` is a zeroed bpf_attr of the size passed; its pointers point at live
    // buffers of the sizes given for the length of the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            attr.as_mut_ptr(),
            std::mem::size_of_val(&attr),
        )
    };
    if fd >= 0 {
        // SAFETY: `fd` is the program's descriptor, owned here and closed once.
        unsafe { libc::close(fd as i32) };
        return true;
    }
    let log = String::from_utf8_lossy(&log);
    !(log.contains("invalid func") || log.contains("unknown func"))
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
