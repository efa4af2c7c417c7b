//! How each script map becomes a kernel map: one place, read by the lowering (to build keys
//! and values) and by the runtime (to read them back).

use crate::ast::MapDecl;
use crate::catalogue::AggKind;
use crate::sema::{MapInfo, MapValue, Options};
use crate::types::Type;

/// BPF_MAP_TYPE_* values the compiler uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapKind {
    Hash = 1,
    Array = 2,
    LruHash = 9,
    LruPercpuHash = 10,
    PercpuHash = 5,
    PercpuArray = 6,
    Ringbuf = 27,
    StackTrace = 7,
}

/// The kernel side of a map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// At most 15 characters of `[A-Za-z0-9_]`.
    pub kernel_name: String,
    pub kind: MapKind,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    /// For keyed histograms: the bucket index is a u64 after the script's key.
    pub bucket_in_key: bool,
}

/// Bytes of an aggregation's per-CPU value.
pub fn agg_value_size(kind: AggKind) -> u32 {
    match kind {
        AggKind::Count | AggKind::Sum | AggKind::Hist | AggKind::Lhist => 8,
        // min/max: [value, is set]; avg/stats: [count, total].
        AggKind::Min | AggKind::Max | AggKind::Avg | AggKind::Stats => 16,
        AggKind::Tseries => TSERIES_VALUE_SIZE,
    }
}

/// A tseries slot: [value, meta, epoch] (epoch = time / interval, 0 for a slot never written;
/// meta is the time of the value for the default "last value", the count for avg, "is set" for
/// min/max). Slot `epoch % intervals` of a key holds its interval.
pub const TSERIES_VALUE_SIZE: u32 = 24;

/// Number of buckets of `hist(v, bits)`: bucket 0 holds negatives, then up to the bucket of
/// i64::MAX, (64 - bits) * 2^bits + 1 in all (the index is computed in `lower::hist_bucket`).
pub fn hist_buckets(bits: u8) -> u32 {
    (64 - u32::from(bits)) * (1 << bits) + 1
}

/// Number of buckets of `lhist(v, min, max, step)`: under, one per step, over.
pub fn lhist_buckets(min: i64, max: i64, step: i64) -> u32 {
    ((max - min) / step) as u32 + 2
}

pub fn layout(index: usize, map: &MapInfo, options: &Options, decl: Option<&MapDecl>) -> Layout {
    let kernel_name = kernel_name(index, &map.name);
    let key_size = map.key.as_ref().map_or(0, Type::size) as u32;
    let (kind, key_size, value_size, max_entries, bucket_in_key) = match &map.value {
        MapValue::Plain(t) => (
            MapKind::Hash,
            key_size.max(8),
            t.size() as u32,
            options.max_map_keys,
            false,
        ),
        MapValue::Agg {
            kind: kind @ (AggKind::Hist | AggKind::Lhist),
            params,
            ..
        } => {
            let buckets = match kind {
                AggKind::Hist => hist_buckets(params.hist_bits),
                _ => lhist_buckets(params.lhist_min, params.lhist_max, params.lhist_step),
            };
            if map.key.is_none() {
                (MapKind::PercpuArray, 4, 8, buckets, false)
            } else {
                (
                    MapKind::PercpuHash,
                    key_size + 8,
                    8,
                    options.max_map_keys,
                    true,
                )
            }
        }
        // tseries: a per-CPU hash keyed by the script's key (if any) and the slot, as bpftrace
        // keeps it (a slot never written has no entry).
        MapValue::Agg {
            kind: AggKind::Tseries,
            params,
            ..
        } => (
            MapKind::PercpuHash,
            key_size + 8,
            TSERIES_VALUE_SIZE,
            if map.key.is_none() {
                params.tseries_intervals.clamp(1, u64::from(u32::MAX)) as u32
            } else {
                options.max_map_keys
            },
            true,
        ),
        MapValue::Agg { kind, .. } if map.key.is_none() => {
            (MapKind::PercpuArray, 4, agg_value_size(*kind), 1, false)
        }
        MapValue::Agg { kind, .. } => (
            MapKind::PercpuHash,
            key_size,
            agg_value_size(*kind),
            options.max_map_keys,
            false,
        ),
    };
    // A declaration (`let @m = lruhash(100);`) sets a hash map's size and eviction.
    let (kind, max_entries) = match decl {
        Some(d) if matches!(kind, MapKind::Hash | MapKind::PercpuHash) => {
            let lru = d.kind.contains("lru");
            let kind = match (kind, lru) {
                (MapKind::Hash, true) => MapKind::LruHash,
                (MapKind::PercpuHash, true) => MapKind::LruPercpuHash,
                (k, _) => k,
            };
            (
                kind,
                d.size
                    .map_or(max_entries, |n| n.clamp(1, u64::from(u32::MAX)) as u32),
            )
        }
        _ => (kind, max_entries),
    };
    Layout {
        kernel_name,
        kind,
        key_size,
        value_size,
        max_entries,
        bucket_in_key,
    }
}

/// `m<index>_<name>`: unique by index, readable by name, within the kernel's 15 characters.
fn kernel_name(index: usize, name: &str) -> String {
    let mut s = format!("m{index}_");
    s.extend(
        name.trim_start_matches('@')
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_'),
    );
    s.truncate(15);
    s
}

/// The ring buffer that carries events (printf, exit, print...) to user space.
pub fn events_layout() -> Layout {
    Layout {
        kernel_name: "rbt_events".into(),
        kind: MapKind::Ringbuf,
        key_size: 0,
        value_size: 0,
        max_entries: 1 << 20,
        bucket_in_key: false,
    }
}

/// Per-CPU counters of what could not be recorded: slot 0 counts events the ring buffer
/// refused, slot 1 + i counts updates refused to map i (map full).
pub fn counters_layout(maps: usize) -> Layout {
    Layout {
        kernel_name: "rbt_counters".into(),
        kind: MapKind::PercpuArray,
        key_size: 4,
        value_size: 8,
        max_entries: 1 + maps as u32,
        bucket_in_key: false,
    }
}

/// The size of the per-CPU scratch value: the most a per-CPU array value may be.
pub const SCRATCH_BYTES: u32 = 32768;

/// One per-CPU value holding the buffers of any program that do not fit on its stack.
pub fn scratch_layout(bytes: u32) -> Layout {
    Layout {
        kernel_name: "rbt_scratch".into(),
        kind: MapKind::PercpuArray,
        key_size: 4,
        value_size: bytes.max(8),
        max_entries: 1,
        bucket_in_key: false,
    }
}

/// Values the runtime sets before anything runs; indexes are the `Global` variants.
pub fn globals_layout() -> Layout {
    Layout {
        kernel_name: "rbt_globals".into(),
        kind: MapKind::Array,
        key_size: 4,
        value_size: 8,
        max_entries: Global::COUNT,
        bucket_in_key: false,
    }
}

/// The slots of `rbt_globals`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Global {
    /// CLOCK_BOOTTIME in nanoseconds when the script started, for `elapsed`.
    StartNs = 0,
    /// The number of online CPUs, for `ncpus`.
    Ncpus = 1,
    /// The pid of `-c`'s command, for `cpid`.
    Cpid = 2,
    /// CLOCK_TAI minus CLOCK_BOOTTIME at the start, for `nsecs(sw_tai)`.
    SwTaiOffset = 3,
}

impl Global {
    pub const COUNT: u32 = 4;
}

/// The stack-trace map of `ustack`/`kstack`: stack ids (u32) to frame addresses (u64 each, up
/// to `MAX_STACK_FRAMES`). One entry when no program records stacks.
pub fn stacks_layout(used: bool, options: &Options) -> Layout {
    Layout {
        kernel_name: "rbt_stacks".into(),
        kind: MapKind::StackTrace,
        key_size: 4,
        value_size: 8 * u32::from(crate::sema::MAX_STACK_FRAMES),
        max_entries: if used { options.max_map_keys } else { 1 },
        bucket_in_key: false,
    }
}
