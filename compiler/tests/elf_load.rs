//! Objects from `elf::write` loaded into the real kernel with aya 0.14 (and libbpf through
//! `bpftool prog loadall` where installed). Needs root: each test skips with a message if not.
//! Programs are hand-assembled from `Insn` literals.

use std::os::fd::{AsFd as _, AsRawFd as _};
use std::process::Command;

use aya::maps::{Array, HashMap, Map, PerCpuArray, PerCpuHashMap, RingBuf};
use aya::programs::{
    KProbe, PerfEvent, Program as AyaProgram, RawTracePoint, RawTracePointRunOptions,
    SchedClassifier, TestRun, TracePoint, UProbe, Xdp,
};
use aya::{Ebpf, EbpfLoader};
use rbt_compiler::bpf::{Insn, MapReloc, Program};
use rbt_compiler::elf::{self, MapDef, ProgramSection};

// --- a tiny assembler -------------------------------------------------------------------------

const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R6: u8 = 6;
const R10: u8 = 10;

const HELPER_MAP_LOOKUP_ELEM: i32 = 1;
const HELPER_MAP_UPDATE_ELEM: i32 = 2;
const HELPER_GET_CURRENT_COMM: i32 = 16;
const HELPER_RINGBUF_OUTPUT: i32 = 130;

const MAP_HASH: u32 = 1;
const MAP_ARRAY: u32 = 2;
const MAP_PERCPU_HASH: u32 = 5;
const MAP_PERCPU_ARRAY: u32 = 6;
const MAP_RINGBUF: u32 = 27;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        dst,
        src,
        off,
        imm,
    }
}

/// Collects instructions and the map relocations among them.
#[derive(Default)]
struct Asm {
    program: Program,
}

impl Asm {
    fn push(&mut self, insn: Insn) -> &mut Self {
        self.program.insns.push(insn);
        self
    }
    fn mov_imm(&mut self, dst: u8, imm: i32) -> &mut Self {
        self.push(insn(0xb7, dst, 0, 0, imm))
    }
    fn mov_reg(&mut self, dst: u8, src: u8) -> &mut Self {
        self.push(insn(0xbf, dst, src, 0, 0))
    }
    fn add_imm(&mut self, dst: u8, imm: i32) -> &mut Self {
        self.push(insn(0x07, dst, 0, 0, imm))
    }
    /// `dst = r10 + off`: a pointer to the stack.
    fn stack_ptr(&mut self, dst: u8, off: i32) -> &mut Self {
        self.mov_reg(dst, R10).add_imm(dst, off)
    }
    /// `*(u32 *)(dst + off) = imm`
    fn store_w_imm(&mut self, dst: u8, off: i16, imm: i32) -> &mut Self {
        self.push(insn(0x62, dst, 0, off, imm))
    }
    /// `*(u64 *)(dst + off) = src`
    fn store_dw(&mut self, dst: u8, off: i16, src: u8) -> &mut Self {
        self.push(insn(0x7b, dst, src, off, 0))
    }
    /// `dst = *(u64 *)(src + off)`
    fn load_dw(&mut self, dst: u8, src: u8, off: i16) -> &mut Self {
        self.push(insn(0x79, dst, src, off, 0))
    }
    /// `lock *(u64 *)(dst + off) += src`
    fn atomic_add_dw(&mut self, dst: u8, off: i16, src: u8) -> &mut Self {
        self.push(insn(0xdb, dst, src, off, 0))
    }
    /// `dst = map` as an `ld_imm64` relocated against map number `map`.
    fn ld_map(&mut self, dst: u8, map: u32) -> &mut Self {
        let at = self.program.insns.len();
        self.program.relocs.push(MapReloc { insn: at, map });
        self.push(insn(0x18, dst, 0, 0, 0))
            .push(insn(0, 0, 0, 0, 0))
    }
    fn call(&mut self, helper: i32) -> &mut Self {
        self.push(insn(0x85, 0, 0, 0, helper))
    }
    /// `if dst == imm goto +off`
    fn jeq_imm(&mut self, dst: u8, imm: i32, off: i16) -> &mut Self {
        self.push(insn(0x15, dst, 0, off, imm))
    }
    fn ja(&mut self, off: i16) -> &mut Self {
        self.push(insn(0x05, 0, 0, off, 0))
    }
    fn exit(&mut self) -> &mut Self {
        self.push(insn(0x95, 0, 0, 0, 0))
    }
    fn len(&self) -> usize {
        self.program.insns.len()
    }
    fn finish(&mut self) -> Program {
        std::mem::take(&mut self.program)
    }
}

fn map(name: &str, map_type: u32, key_size: u32, value_size: u32, max_entries: u32) -> MapDef {
    MapDef {
        name: name.into(),
        map_type,
        key_size,
        value_size,
        max_entries,
        flags: 0,
    }
}

// --- environment ------------------------------------------------------------------------------

fn is_root(test: &str) -> bool {
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        println!("skipping {test}: needs root to load BPF programs");
    }
    root
}

fn is_mounted(path: &str) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts
        .lines()
        .any(|line| line.split(' ').nth(1) == Some(path))
}

fn mount(fs: &str, path: &str) {
    if !is_mounted(path) {
        let status = Command::new("mount")
            .args(["-t", fs, fs, path])
            .status()
            .expect("run mount");
        assert!(status.success() || is_mounted(path), "mount {fs} at {path}");
    }
}

fn getpid_n_times(n: u32) {
    for _ in 0..n {
        // The raw syscall: libc's getpid() may be cached.
        unsafe { libc::syscall(libc::SYS_getpid) };
    }
}

/// Loads `obj` with `bpftool prog loadall` (libbpf) and unpins it again. None if bpftool is
/// missing.
fn bpftool_loadall(obj: &[u8], tag: &str) -> Option<()> {
    if Command::new("bpftool").arg("version").output().is_err() {
        println!("skipping the bpftool check: bpftool is not installed");
        return None;
    }
    mount("bpf", "/sys/fs/bpf");
    let file = std::env::temp_dir().join(format!("rbt-elf-{tag}-{}.o", std::process::id()));
    std::fs::write(&file, obj).unwrap();
    let pins = format!("/sys/fs/bpf/rbt_elf_{tag}_{}", std::process::id());
    let output = Command::new("bpftool")
        .args(["-d", "prog", "loadall"])
        .arg(&file)
        .arg(&pins)
        .output()
        .expect("run bpftool");
    let _ = std::fs::remove_dir_all(&pins);
    let _ = std::fs::remove_file(&file);
    assert!(
        output.status.success(),
        "bpftool prog loadall refused the object:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(())
}

fn load(obj: &[u8]) -> Ebpf {
    EbpfLoader::new().load(obj).expect("aya loads the object")
}

fn load_tracepoint(ebpf: &mut Ebpf, name: &str, category: &str, event: &str) {
    mount("tracefs", "/sys/kernel/tracing");
    let program: &mut TracePoint = ebpf.program_mut(name).unwrap().try_into().unwrap();
    if let Err(err) = program.load() {
        panic!("verifier refused {name}: {err:?}");
    }
    program.attach(category, event).expect("attach tracepoint");
}

/// `counts[comm] += 1` (map 0, keyed by the 16-byte comm); with `ring`, also sends the comm
/// to the ring buffer (map 1).
fn count_by_comm(ring: bool) -> Program {
    const COMM: i16 = -16;
    const ONE: i16 = -24;
    let mut asm = Asm::default();
    asm.stack_ptr(R1, COMM.into())
        .mov_imm(R2, 16)
        .call(HELPER_GET_CURRENT_COMM)
        .ld_map(R1, 0)
        .stack_ptr(R2, COMM.into())
        .call(HELPER_MAP_LOOKUP_ELEM);
    // Hit: atomic add. Miss: insert 1.
    let miss = asm.len();
    asm.jeq_imm(R0, 0, 0)
        .mov_imm(R1, 1)
        .atomic_add_dw(R0, 0, R1);
    let hit_done = asm.len();
    asm.ja(0);
    let miss_target = asm.len();
    asm.mov_imm(R1, 1)
        .store_dw(R10, ONE, R1)
        .ld_map(R1, 0)
        .stack_ptr(R2, COMM.into())
        .stack_ptr(R3, ONE.into())
        .mov_imm(R4, 0)
        .call(HELPER_MAP_UPDATE_ELEM);
    let done = asm.len();
    if ring {
        asm.ld_map(R1, 1)
            .stack_ptr(R2, COMM.into())
            .mov_imm(R3, 16)
            .mov_imm(R4, 0)
            .call(HELPER_RINGBUF_OUTPUT);
    }
    asm.mov_imm(R0, 0).exit();
    let mut program = asm.finish();
    program.insns[miss].off = (miss_target - miss - 1) as i16;
    program.insns[hit_done].off = (done - hit_done - 1) as i16;
    program
}

/// This thread's comm, as bpf_get_current_comm() fills it: NUL-padded to 16 bytes.
fn thread_comm() -> [u8; 16] {
    let text = std::fs::read_to_string("/proc/thread-self/comm").unwrap();
    let name = text.trim_end_matches('\n').as_bytes();
    let mut comm = [0u8; 16];
    comm[..name.len()].copy_from_slice(name);
    comm
}

// --- tests ------------------------------------------------------------------------------------

/// `counts[0] += 1` in a per-CPU array on every getpid().
#[test]
fn tracepoint_counts_getpid_in_percpu_array() {
    if !is_root("tracepoint_counts_getpid_in_percpu_array") {
        return;
    }
    let mut asm = Asm::default();
    asm.store_w_imm(R10, -4, 0)
        .stack_ptr(R2, -4)
        .ld_map(R1, 0)
        .call(HELPER_MAP_LOOKUP_ELEM)
        .jeq_imm(R0, 0, 3)
        .load_dw(R1, R0, 0)
        .add_imm(R1, 1)
        .store_dw(R0, 0, R1)
        .mov_imm(R0, 0)
        .exit();
    let program = asm.finish();
    let maps = [map("counts", MAP_PERCPU_ARRAY, 4, 8, 1)];
    let obj = elf::write(
        &[ProgramSection {
            callbacks: vec![],
            section: "tracepoint/syscalls/sys_enter_getpid".into(),
            name: "count_getpid".into(),
            program: &program,
        }],
        &maps,
    );
    bpftool_loadall(&obj, "count");

    let mut ebpf = load(&obj);
    load_tracepoint(&mut ebpf, "count_getpid", "syscalls", "sys_enter_getpid");
    let calls = 1000;
    getpid_n_times(calls);

    let counts: PerCpuArray<_, u64> = PerCpuArray::try_from(ebpf.map("counts").unwrap()).unwrap();
    let total: u64 = counts.get(&0, 0).unwrap().iter().sum();
    assert!(
        total >= calls.into(),
        "counted {total} of {calls} getpid calls"
    );
}

/// Per-comm counts in a hash map keyed by the 16-byte comm, and each comm sent to a ring buffer.
#[test]
fn hash_by_comm_and_ringbuf() {
    if !is_root("hash_by_comm_and_ringbuf") {
        return;
    }
    let program = count_by_comm(true);
    let maps = [
        map("comm_counts", MAP_HASH, 16, 8, 1024),
        map("events", MAP_RINGBUF, 0, 0, 64 * 1024),
    ];
    let obj = elf::write(
        &[ProgramSection {
            callbacks: vec![],
            section: "tracepoint/syscalls/sys_enter_getpid".into(),
            name: "comm_getpid".into(),
            program: &program,
        }],
        &maps,
    );
    bpftool_loadall(&obj, "comm");

    let mut ebpf = load(&obj);
    load_tracepoint(&mut ebpf, "comm_getpid", "syscalls", "sys_enter_getpid");
    let comm = thread_comm();
    let calls = 50;
    getpid_n_times(calls);

    let counts: HashMap<_, [u8; 16], u64> =
        HashMap::try_from(ebpf.map("comm_counts").unwrap()).unwrap();
    let ours = counts.get(&comm, 0).expect("our comm is in the hash map");
    assert!(
        ours >= calls.into(),
        "counted {ours} of {calls} for our comm"
    );

    let mut events = RingBuf::try_from(ebpf.map_mut("events").unwrap()).unwrap();
    let mut seen = 0;
    while let Some(item) = events.next() {
        if *item == comm {
            seen += 1;
        }
    }
    assert!(
        seen >= calls,
        "ring buffer had {seen} of {calls} events for our comm"
    );
}

/// A raw tracepoint program run once by BPF_PROG_TEST_RUN: `values[0] = ctx[0]; return 7`.
#[test]
fn raw_tracepoint_test_run_writes_map() {
    if !is_root("raw_tracepoint_test_run_writes_map") {
        return;
    }
    let mut asm = Asm::default();
    asm.load_dw(R6, R1, 0)
        .store_w_imm(R10, -4, 0)
        .stack_ptr(R2, -4)
        .ld_map(R1, 0)
        .call(HELPER_MAP_LOOKUP_ELEM)
        .jeq_imm(R0, 0, 1)
        .store_dw(R0, 0, R6)
        .mov_imm(R0, 7)
        .exit();
    let program = asm.finish();
    let maps = [map("values", MAP_ARRAY, 4, 8, 1)];
    let obj = elf::write(
        &[ProgramSection {
            callbacks: vec![],
            section: "raw_tp/begin".into(),
            name: "begin".into(),
            program: &program,
        }],
        &maps,
    );
    bpftool_loadall(&obj, "begin");

    let mut ebpf = load(&obj);
    let begin: &mut RawTracePoint = ebpf.program_mut("begin").unwrap().try_into().unwrap();
    begin.load().expect("verifier accepts begin");
    let mut args = RawTracePointRunOptions::new();
    args.args[0] = 0x1234_5678_9abc;
    let result = begin.test_run(args).expect("test run");
    assert_eq!(result.return_value, 7);

    let values: Array<_, u64> = Array::try_from(ebpf.map("values").unwrap()).unwrap();
    assert_eq!(values.get(&0, 0).unwrap(), 0x1234_5678_9abc);
}

/// Every section name in the table of `elf.rs` is accepted by aya (program kind, load) and by
/// libbpf (`bpftool prog loadall`), with a `return 0` program.
#[test]
fn every_section_name_loads() {
    if !is_root("every_section_name_loads") {
        return;
    }
    let mut asm = Asm::default();
    let program = asm.mov_imm(R0, 0).exit().finish();
    let sections = [
        ("tracepoint/syscalls/sys_enter_getpid", "tp"),
        // A second program in a section of the same name.
        ("tracepoint/syscalls/sys_enter_getpid", "tp_again"),
        ("kprobe/do_nanosleep", "kp"),
        ("kretprobe/do_nanosleep", "krp"),
        ("uprobe", "up"),
        ("uretprobe", "urp"),
        ("perf_event", "pe"),
        ("raw_tp", "rtp"),
        ("raw_tracepoint/sys_enter", "rtp2"),
        ("xdp", "xdp"),
        ("classifier", "cls"),
    ];
    let programs: Vec<_> = sections
        .iter()
        .map(|(section, name)| ProgramSection {
            callbacks: vec![],
            section: (*section).into(),
            name: (*name).into(),
            program: &program,
        })
        .collect();
    let obj = elf::write(&programs, &[]);
    bpftool_loadall(&obj, "kinds");

    let mut ebpf = load(&obj);
    for (section, name) in sections {
        let loaded = match ebpf.program_mut(name).unwrap() {
            AyaProgram::TracePoint(p) => p.load(),
            AyaProgram::KProbe(p) => p.load(),
            AyaProgram::UProbe(p) => p.load(),
            AyaProgram::PerfEvent(p) => p.load(),
            AyaProgram::RawTracePoint(p) => p.load(),
            AyaProgram::Xdp(p) => p.load(),
            AyaProgram::SchedClassifier(p) => p.load(),
            other => panic!("{section}: unexpected program kind {:?}", other.prog_type()),
        };
        loaded.unwrap_or_else(|err| panic!("{section}: load failed: {err:?}"));
    }
    // The kinds aya inferred, spot-checked through the typed conversions.
    let _: &mut KProbe = ebpf.program_mut("krp").unwrap().try_into().unwrap();
    let _: &mut UProbe = ebpf.program_mut("urp").unwrap().try_into().unwrap();
    let _: &mut PerfEvent = ebpf.program_mut("pe").unwrap().try_into().unwrap();
    let _: &mut RawTracePoint = ebpf.program_mut("rtp2").unwrap().try_into().unwrap();
    let _: &mut Xdp = ebpf.program_mut("xdp").unwrap().try_into().unwrap();
    let _: &mut SchedClassifier = ebpf.program_mut("cls").unwrap().try_into().unwrap();
}

/// Per-CPU hash keyed by comm, read back two ways: aya's typed `PerCpuHashMap` and raw
/// `bpf(2)` calls on the map's fd with keys and values as byte vectors whose sizes are known
/// only at run time (what the runtime needs for script-defined key and value types).
#[test]
fn percpu_hash_by_comm_typed_and_raw() {
    if !is_root("percpu_hash_by_comm_typed_and_raw") {
        return;
    }
    let program = count_by_comm(false);
    let maps = [map("comm_pcpu", MAP_PERCPU_HASH, 16, 8, 1024)];
    let obj = elf::write(
        &[ProgramSection {
            callbacks: vec![],
            section: "tracepoint/syscalls/sys_enter_getpid".into(),
            name: "pcpu_getpid".into(),
            program: &program,
        }],
        &maps,
    );
    bpftool_loadall(&obj, "pcpu");

    let mut ebpf = load(&obj);
    load_tracepoint(&mut ebpf, "pcpu_getpid", "syscalls", "sys_enter_getpid");
    let comm = thread_comm();
    let calls = 50;
    getpid_n_times(calls);

    let typed: PerCpuHashMap<_, [u8; 16], u64> =
        PerCpuHashMap::try_from(ebpf.map("comm_pcpu").unwrap()).unwrap();
    let typed_sum: u64 = typed.get(&comm, 0).unwrap().iter().sum();
    assert!(
        typed_sum >= calls.into(),
        "typed read: {typed_sum} of {calls}"
    );

    let Some(Map::PerCpuHashMap(data)) = ebpf.map("comm_pcpu") else {
        panic!("comm_pcpu is not a per-CPU hash");
    };
    let fd = data.fd().as_fd().as_raw_fd();
    let cpus = aya::util::nr_cpus().unwrap();
    let keys = raw::keys(fd, 16);
    assert!(
        keys.iter().any(|key| key[..] == comm[..]),
        "our comm among the keys"
    );
    let values = raw::lookup(fd, &comm, 8 * cpus).expect("our comm has a value");
    let raw_sum: u64 = values
        .chunks(8)
        .map(|slot| u64::from_ne_bytes(slot.try_into().unwrap()))
        .sum();
    assert!(
        raw_sum >= typed_sum,
        "raw read {raw_sum} after typed read {typed_sum}"
    );
}

/// Map access through the `bpf(2)` syscall with byte-vector keys and values.
mod raw {
    use std::os::fd::RawFd;

    const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
    const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;
    const BPF_BTF_LOAD: libc::c_long = 18;

    /// The `bpf_attr` layout of the map element commands.
    #[repr(C)]
    #[derive(Default)]
    struct MapElemAttr {
        map_fd: u32,
        _pad: u32,
        key: u64,
        value_or_next_key: u64,
        flags: u64,
    }

    fn bpf(cmd: libc::c_long, attr: &mut MapElemAttr) -> bool {
        let size = size_of::<MapElemAttr>();
        unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut MapElemAttr, size) == 0 }
    }

    /// Every key of the map, in the kernel's order.
    pub fn keys(fd: RawFd, key_size: usize) -> Vec<Vec<u8>> {
        let mut keys: Vec<Vec<u8>> = Vec::new();
        loop {
            let mut next = vec![0u8; key_size];
            let mut attr = MapElemAttr {
                map_fd: fd as u32,
                // A null key asks for the first one.
                key: keys.last().map_or(0, |key| key.as_ptr() as u64),
                value_or_next_key: next.as_mut_ptr() as u64,
                ..Default::default()
            };
            if !bpf(BPF_MAP_GET_NEXT_KEY, &mut attr) {
                return keys; // ENOENT: no more keys
            }
            keys.push(next);
        }
    }

    /// The value under `key`; for per-CPU maps `value_size` is 8-byte-rounded size times the
    /// number of possible CPUs.
    pub fn lookup(fd: RawFd, key: &[u8], value_size: usize) -> Option<Vec<u8>> {
        let mut value = vec![0u8; value_size];
        let mut attr = MapElemAttr {
            map_fd: fd as u32,
            key: key.as_ptr() as u64,
            value_or_next_key: value.as_mut_ptr() as u64,
            ..Default::default()
        };
        bpf(BPF_MAP_LOOKUP_ELEM, &mut attr).then_some(value)
    }

    /// The `bpf_attr` layout of BPF_BTF_LOAD.
    #[repr(C)]
    struct BtfLoadAttr {
        btf: u64,
        btf_log_buf: u64,
        btf_size: u32,
        btf_log_size: u32,
        btf_log_level: u32,
    }

    /// Loads `btf` into the kernel and closes it again; the kernel's log on refusal.
    pub fn load_btf(btf: &[u8]) -> Result<(), String> {
        let mut log = vec![0u8; 64 * 1024];
        let mut attr = BtfLoadAttr {
            btf: btf.as_ptr() as u64,
            btf_log_buf: log.as_mut_ptr() as u64,
            btf_size: btf.len() as u32,
            btf_log_size: log.len() as u32,
            btf_log_level: 1,
        };
        let size = size_of::<BtfLoadAttr>();
        let fd = unsafe { libc::syscall(libc::SYS_bpf, BPF_BTF_LOAD, &mut attr as *mut _, size) };
        if fd < 0 {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            return Err(format!(
                "{}\n{}",
                std::io::Error::last_os_error(),
                String::from_utf8_lossy(&log[..end])
            ));
        }
        unsafe { libc::close(fd as i32) };
        Ok(())
    }
}

/// Every map kind rbt uses is created as defined (checked through the kernel's map info),
/// and the kernel itself accepts the object's `.BTF` (BPF_BTF_LOAD).
#[test]
fn map_kinds_created_as_defined_and_btf_accepted() {
    if !is_root("map_kinds_created_as_defined_and_btf_accepted") {
        return;
    }
    const BPF_F_NO_PREALLOC: u32 = 1;
    let maps = [
        MapDef {
            flags: BPF_F_NO_PREALLOC,
            ..map("hash", MAP_HASH, 24, 16, 4096)
        },
        map("array", MAP_ARRAY, 4, 8, 64),
        map("pcpu_hash", MAP_PERCPU_HASH, 8, 8, 1024),
        map("pcpu_array", MAP_PERCPU_ARRAY, 4, 32, 1),
        map("ring", MAP_RINGBUF, 0, 0, 256 * 1024),
    ];
    // One program referencing every map, so that libbpf and the verifier see each in use.
    let mut asm = Asm::default();
    for index in 0..maps.len() as u32 {
        asm.ld_map(R1, index);
    }
    let program = asm.mov_imm(R0, 0).exit().finish();
    let obj = elf::write(
        &[ProgramSection {
            callbacks: vec![],
            section: "raw_tp".into(),
            name: "uses_all_maps".into(),
            program: &program,
        }],
        &maps,
    );
    bpftool_loadall(&obj, "maps");

    let btf = {
        use object::read::{Object as _, ObjectSection as _};
        let file = object::File::parse(&*obj).unwrap();
        file.section_by_name(".BTF")
            .unwrap()
            .data()
            .unwrap()
            .to_vec()
    };
    if let Err(log) = raw::load_btf(&btf) {
        panic!("kernel refused the BTF:\n{log}");
    }

    let mut ebpf = load(&obj);
    for def in &maps {
        let map = ebpf.map(&def.name).expect("map created");
        let data = match map {
            Map::HashMap(data)
            | Map::Array(data)
            | Map::PerCpuHashMap(data)
            | Map::PerCpuArray(data)
            | Map::RingBuf(data) => data,
            other => panic!("{}: unexpected kind {other:?}", def.name),
        };
        let info = data.info().unwrap();
        assert_eq!(info.name_as_str(), Some(def.name.as_str()));
        assert_eq!(info.key_size(), def.key_size, "{}", def.name);
        assert_eq!(info.value_size(), def.value_size, "{}", def.name);
        assert_eq!(info.max_entries(), def.max_entries, "{}", def.name);
        assert_eq!(info.map_flags(), def.flags, "{}", def.name);
    }
    let program: &mut RawTracePoint = ebpf
        .program_mut("uses_all_maps")
        .unwrap()
        .try_into()
        .unwrap();
    program.load().expect("verifier accepts uses_all_maps");
}
