//! Turning the bytes of maps and events back into values, by the types the compiler fixed.

use std::collections::BTreeMap;

use rbt_compiler::catalogue::AggKind;
use rbt_compiler::maps::{Layout, MapKind};
use rbt_compiler::sema::{MapInfo, MapValue};
use rbt_compiler::types::Type;

use crate::output::{Aggregate, Entry, MapValue as Shown, Value};
use crate::render::Renderer;
use crate::sys::RawMap;

fn word(bytes: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    let end = (at + 8).min(bytes.len());
    if at < end {
        w[..end - at].copy_from_slice(&bytes[at..end]);
    }
    u64::from_le_bytes(w)
}

/// A value of type `ty` laid out at the start of `bytes`.
pub fn value(ty: &Type, bytes: &[u8], r: &Renderer) -> Value {
    match ty {
        Type::Int { bits, signed } => {
            let raw = word(bytes, 0);
            let shift = 64 - u32::from(*bits).min(64);
            if *signed {
                Value::Int(((raw << shift) as i64) >> shift)
            } else {
                Value::Uint((raw << shift) >> shift)
            }
        }
        Type::Bool => Value::Bool(bytes.first().is_some_and(|b| *b != 0)),
        Type::Str { len } => {
            let b = &bytes[..(*len).min(bytes.len())];
            let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
            Value::Str(String::from_utf8_lossy(&b[..end]).into_owned())
        }
        Type::Tuple(fields) => Value::Tuple(
            fields
                .iter()
                .zip(Type::field_offsets(fields))
                .map(|(f, off)| value(f, &bytes[off.min(bytes.len())..], r))
                .collect(),
        ),
        Type::Ptr(_) => Value::Pointer(word(bytes, 0)),
        Type::Enum(e) => {
            let v = match value(
                &Type::Int {
                    bits: (e.size * 8) as u8,
                    signed: e.signed,
                },
                bytes,
                r,
            ) {
                Value::Int(v) => v,
                Value::Uint(v) => v as i64,
                _ => 0,
            };
            match e.name_of(v) {
                Some(name) => Value::Symbol {
                    name: name.to_string(),
                    value: v,
                },
                None if e.signed => Value::Int(v),
                None => Value::Uint(v as u64),
            }
        }
        Type::Array { elem, len } => {
            let stride = elem.c_size();
            Value::Array(
                (0..*len)
                    .map(|i| value(elem, bytes.get(i * stride..).unwrap_or(&[]), r))
                    .collect(),
            )
        }
        Type::Record(rec) => Value::Record(
            rec.fields
                .iter()
                .map(|f| {
                    let at = bytes.get(f.offset..).unwrap_or(&[]);
                    let v = match f.bitfield {
                        Some(bf) => {
                            let raw = word(at, 0) >> bf.shift;
                            let shift = 64 - bf.bits;
                            if f.ty.is_signed() {
                                Value::Int(((raw << shift) as i64) >> shift)
                            } else {
                                Value::Uint((raw << shift) >> shift)
                            }
                        }
                        None => value(&f.ty, at, r),
                    };
                    (f.name.clone(), v)
                })
                .collect(),
        ),
        Type::Opaque { .. } => Value::None,
        Type::Named(_) | Type::Args | Type::Void | Type::Return => Value::Uint(0),
        Type::Buf { len } => {
            let held = (word(bytes, 0) as usize).min(*len);
            let data = bytes.get(8..).unwrap_or(&[]);
            Value::Buffer(data[..held.min(data.len())].to_vec())
        }
        Type::Rendered(render) => Value::Str(r.text(render, bytes)),
    }
}

fn signed_value(signed: bool, raw: u64) -> Value {
    if signed {
        Value::Int(raw as i64)
    } else {
        Value::Uint(raw)
    }
}

/// Every entry of a script map, per-CPU values merged.
pub fn read_map(
    map: &RawMap,
    info: &MapInfo,
    layout: &Layout,
    cpus: usize,
    r: &Renderer,
) -> Vec<Entry> {
    let stride = (layout.value_size as usize).div_ceil(8) * 8;
    let per_cpu = |v: &[u8]| -> Vec<Vec<u8>> {
        (0..cpus)
            .map(|c| v[c * stride..(c + 1) * stride].to_vec())
            .collect()
    };
    let key_of = |k: &[u8]| info.key.as_ref().map(|t| value(t, k, r));
    match &info.value {
        MapValue::Plain(t) => map
            .entries()
            .into_iter()
            .map(|(k, v)| Entry {
                key: key_of(&k),
                value: Shown::Plain(value(t, &v, r)),
            })
            .collect(),
        MapValue::Agg {
            kind: kind @ (AggKind::Hist | AggKind::Lhist),
            params,
            ..
        } => {
            let buckets = layout_buckets(*kind, params);
            let mut groups: BTreeMap<Vec<u8>, Vec<u64>> = BTreeMap::new();
            for (k, v) in map.entries() {
                let count: u64 = per_cpu(&v)
                    .iter()
                    .map(|c| word(c, 0))
                    .fold(0, u64::wrapping_add);
                let (user_key, bucket) = if layout.bucket_in_key {
                    let split = k.len() - 8;
                    (k[..split].to_vec(), word(&k, split) as usize)
                } else {
                    (Vec::new(), word(&k, 0) as u32 as usize)
                };
                let slot = groups.entry(user_key).or_insert_with(|| vec![0; buckets]);
                if bucket < buckets {
                    slot[bucket] = slot[bucket].wrapping_add(count);
                }
            }
            groups
                .into_iter()
                .filter(|(_, b)| b.iter().any(|c| *c > 0))
                .map(|(k, b)| Entry {
                    key: key_of(&k),
                    value: Shown::Agg(match kind {
                        AggKind::Hist => Aggregate::Hist {
                            bits: params.hist_bits,
                            buckets: b,
                        },
                        _ => Aggregate::Lhist {
                            min: params.lhist_min,
                            max: params.lhist_max,
                            step: params.lhist_step,
                            buckets: b,
                        },
                    }),
                })
                .collect()
        }
        MapValue::Agg { kind, signed, .. } => map
            .entries()
            .into_iter()
            .filter_map(|(k, v)| {
                let cpus = per_cpu(&v);
                let first = || cpus.iter().map(|c| word(c, 0));
                let add = |it: &mut dyn Iterator<Item = u64>| it.fold(0u64, u64::wrapping_add);
                let agg = match kind {
                    AggKind::Count => Aggregate::Count(add(&mut first())),
                    AggKind::Sum => Aggregate::Sum(signed_value(*signed, add(&mut first()))),
                    AggKind::Avg | AggKind::Stats => {
                        let count = add(&mut first());
                        let total =
                            signed_value(*signed, add(&mut cpus.iter().map(|c| word(c, 8))));
                        if count == 0 {
                            return None;
                        }
                        if *kind == AggKind::Avg {
                            Aggregate::Avg { count, total }
                        } else {
                            Aggregate::Stats { count, total }
                        }
                    }
                    AggKind::Min | AggKind::Max => {
                        let set = cpus.iter().filter(|c| word(c, 8) != 0).map(|c| word(c, 0));
                        let best = if *signed {
                            let it = set.map(|v| v as i64);
                            if *kind == AggKind::Min {
                                it.min()
                            } else {
                                it.max()
                            }
                            .map(|v| v as u64)
                        } else if *kind == AggKind::Min {
                            set.min()
                        } else {
                            set.max()
                        };
                        let v = signed_value(*signed, best?);
                        if *kind == AggKind::Min {
                            Aggregate::Min(v)
                        } else {
                            Aggregate::Max(v)
                        }
                    }
                    AggKind::Hist | AggKind::Lhist => unreachable!("handled above"),
                };
                // An untouched slot of a scalar map's per-CPU array: nothing was recorded.
                if layout.kind == MapKind::PercpuArray && matches!(agg, Aggregate::Count(0)) {
                    return None;
                }
                Some(Entry {
                    key: key_of(&k),
                    value: Shown::Agg(agg),
                })
            })
            .collect(),
    }
}

fn layout_buckets(kind: AggKind, p: &rbt_compiler::sema::AggParams) -> usize {
    match kind {
        AggKind::Hist => rbt_compiler::maps::hist_buckets(p.hist_bits) as usize,
        _ => rbt_compiler::maps::lhist_buckets(p.lhist_min, p.lhist_max, p.lhist_step) as usize,
    }
}

/// What `print(@m)` shows for a scalar map nothing was stored in yet: its zero value, as
/// bpftrace prints `@: 0`. Histograms have no zero form.
pub fn zero_entry(info: &MapInfo, r: &Renderer) -> Option<Entry> {
    if info.key.is_some() {
        return None;
    }
    let zero = |signed: bool| signed_value(signed, 0);
    let value = match &info.value {
        MapValue::Plain(t) => Shown::Plain(value(t, &vec![0u8; t.size()], r)),
        MapValue::Agg { kind, signed, .. } => Shown::Agg(match kind {
            AggKind::Count => Aggregate::Count(0),
            AggKind::Sum => Aggregate::Sum(zero(*signed)),
            AggKind::Min => Aggregate::Min(zero(*signed)),
            AggKind::Max => Aggregate::Max(zero(*signed)),
            AggKind::Avg => Aggregate::Avg {
                count: 0,
                total: zero(*signed),
            },
            AggKind::Stats => Aggregate::Stats {
                count: 0,
                total: zero(*signed),
            },
            AggKind::Hist | AggKind::Lhist => return None,
        }),
    };
    Some(Entry { key: None, value })
}
