//! Just enough of the bpf(2) syscall to load raw instructions and run them (as root).

use crate::bpf::{Insn, Program, encode};

const MAP_CREATE: i64 = 0;
const MAP_LOOKUP_ELEM: i64 = 1;
const PROG_LOAD: i64 = 5;
const PROG_TEST_RUN: i64 = 10;
pub const PROG_TYPE_TRACEPOINT: u32 = 5;
pub const PROG_TYPE_RAW_TRACEPOINT: u32 = 17;
pub const MAP_TYPE_HASH: u32 = 1;
pub const MAP_TYPE_PERCPU_ARRAY: u32 = 6;

pub fn is_root() -> bool {
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("skipped: loading BPF programs needs root");
    }
    root
}

fn bpf(command: i64, attr: &mut [u8; 128]) -> i64 {
    unsafe { libc::syscall(libc::SYS_bpf, command, attr.as_mut_ptr(), attr.len()) }
}

fn put_u32(attr: &mut [u8; 128], at: usize, value: u32) {
    attr[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

fn put_u64(attr: &mut [u8; 128], at: usize, value: u64) {
    attr[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

pub struct Fd(pub i32);

impl Drop for Fd {
    fn drop(&mut self) {
        unsafe { libc::close(self.0) };
    }
}

pub fn create_map(kind: u32, key_size: u32, value_size: u32, entries: u32) -> Fd {
    let mut attr = [0u8; 128];
    put_u32(&mut attr, 0, kind);
    put_u32(&mut attr, 4, key_size);
    put_u32(&mut attr, 8, value_size);
    put_u32(&mut attr, 12, entries);
    let fd = bpf(MAP_CREATE, &mut attr);
    assert!(fd >= 0, "map create: {}", std::io::Error::last_os_error());
    Fd(fd as i32)
}

/// The value under `key`, or None; per-CPU maps give every CPU's value, concatenated.
pub fn lookup(map: &Fd, key: &[u8], value_size: usize) -> Option<Vec<u8>> {
    let mut value = vec![0u8; value_size];
    let mut attr = [0u8; 128];
    put_u32(&mut attr, 0, map.0 as u32);
    put_u64(&mut attr, 8, key.as_ptr() as u64);
    put_u64(&mut attr, 16, value.as_mut_ptr() as u64);
    (bpf(MAP_LOOKUP_ELEM, &mut attr) == 0).then_some(value)
}

/// Loads `program` with its map relocations pointed at `maps[index]`; Err is the verifier log.
pub fn load(program: &Program, kind: u32, maps: &[&Fd]) -> Result<Fd, String> {
    let mut insns: Vec<Insn> = program.insns.clone();
    for reloc in &program.relocs {
        insns[reloc.insn].imm = maps[reloc.map as usize].0;
    }
    let bytes = encode(&insns);
    let license = b"GPL\0";
    let mut log = vec![0u8; 1 << 20];
    let mut attr = [0u8; 128];
    put_u32(&mut attr, 0, kind);
    put_u32(&mut attr, 4, insns.len() as u32);
    put_u64(&mut attr, 8, bytes.as_ptr() as u64);
    put_u64(&mut attr, 16, license.as_ptr() as u64);
    put_u32(&mut attr, 24, 1);
    put_u32(&mut attr, 28, log.len() as u32);
    put_u64(&mut attr, 32, log.as_mut_ptr() as u64);
    let fd = bpf(PROG_LOAD, &mut attr);
    if fd < 0 {
        let error = std::io::Error::last_os_error();
        let end = log.iter().position(|&byte| byte == 0).unwrap_or(log.len());
        return Err(format!("{error}\n{}", String::from_utf8_lossy(&log[..end])));
    }
    Ok(Fd(fd as i32))
}

/// Runs a raw tracepoint program once with `args` as its context; gives its return value.
pub fn run(program: &Fd, args: &[u64]) -> u32 {
    let mut attr = [0u8; 128];
    put_u32(&mut attr, 0, program.0 as u32);
    put_u32(&mut attr, 40, (args.len() * 8) as u32);
    put_u64(&mut attr, 48, args.as_ptr() as u64);
    let result = bpf(PROG_TEST_RUN, &mut attr);
    assert_eq!(result, 0, "test run: {}", std::io::Error::last_os_error());
    u32::from_le_bytes(attr[4..8].try_into().unwrap())
}
