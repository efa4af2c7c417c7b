//! Turning the bytes of maps and events back into values, by the types the compiler fixed.

use std::collections::BTreeMap;

use rbt_compiler::catalogue::AggKind;
use rbt_compiler::maps::{Layout, MapKind, TSERIES_VALUE_SIZE};
use rbt_compiler::sema::{AggParams, MapInfo, MapValue};
use rbt_compiler::types::{TseriesAgg, Type};

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
        MapValue::Agg {
            kind: AggKind::Tseries,
            signed,
            params,
        } => tseries_entries(map, params, *signed, cpus, |k| key_of(k)),
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
                    AggKind::Hist | AggKind::Lhist | AggKind::Tseries => {
                        unreachable!("handled above")
                    }
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

/// A tseries map as bpftrace reads it (`collect_tseries_data`, `reduce_tseries_value`,
/// `build_time_series`): each slot's per-CPU values combined within their newest epoch (a slot
/// no CPU wrote counts as epoch 0, value 0); then, for every key, the epochs of the map's last
/// `intervals` (ending at the newest epoch of any key), from the key's first epoch among them,
/// those without a value shown as missing.
fn tseries_entries(
    map: &RawMap,
    params: &AggParams,
    signed: bool,
    cpus: usize,
    key_of: impl Fn(&[u8]) -> Option<Value>,
) -> Vec<Entry> {
    let stride = TSERIES_VALUE_SIZE as usize;
    let mut series: BTreeMap<Vec<u8>, BTreeMap<u64, u64>> = BTreeMap::new();
    for (k, v) in map.entries() {
        let slots = (0..cpus).map(|c| {
            let s = &v[(c * stride).min(v.len())..((c + 1) * stride).min(v.len())];
            (word(s, 0), word(s, 8), word(s, 16))
        });
        let (epoch, value) = reduce_tseries(slots, params.tseries_agg, signed);
        let user_key = k[..k.len().saturating_sub(8)].to_vec();
        // The first slot read for an epoch wins, as bpftrace's map emplace does.
        series
            .entry(user_key)
            .or_default()
            .entry(epoch)
            .or_insert(value);
    }
    let Some(last) = series
        .values()
        .filter_map(|s| s.keys().max().copied())
        .max()
    else {
        return Vec::new();
    };
    let first = last.wrapping_sub(params.tseries_intervals).wrapping_add(1);
    let interval = params.tseries_interval_ns;
    series
        .into_iter()
        .map(|(k, values)| {
            let from = values
                .keys()
                .copied()
                .filter(|&e| e >= first)
                .min()
                .unwrap_or(last);
            let points = (first..=last)
                .filter(|&e| e >= from)
                .map(|e| {
                    let v = values.get(&e).map(|&raw| signed_value(signed, raw));
                    (e.wrapping_mul(interval), v)
                })
                .collect();
            Entry {
                key: key_of(&k),
                value: Shown::Agg(Aggregate::Tseries { points }),
            }
        })
        .collect()
}

/// One tseries slot's per-CPU (value, meta, epoch) triples combined: the values of the newest
/// epoch (epoch 0: never written), by the tseries' function; avg divides the total by the count.
fn reduce_tseries(
    slots: impl Iterator<Item = (u64, u64, u64)>,
    agg: TseriesAgg,
    signed: bool,
) -> (u64, u64) {
    let mut by_epoch: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    let better = |a: u64, b: u64, max: bool| {
        let a_wins = if signed {
            (a as i64 > b as i64) == max
        } else {
            (a > b) == max
        };
        if a_wins { a } else { b }
    };
    for (value, meta, epoch) in slots {
        if epoch == 0 {
            continue;
        }
        let Some(current) = by_epoch.get_mut(&epoch) else {
            by_epoch.insert(epoch, (value, meta));
            continue;
        };
        match agg {
            // The value written last: meta holds its time.
            TseriesAgg::Last => {
                if meta > current.1 {
                    *current = (value, meta);
                }
            }
            TseriesAgg::Avg => {
                current.0 = current.0.wrapping_add(value);
                current.1 = current.1.wrapping_add(meta);
            }
            TseriesAgg::Sum => current.0 = current.0.wrapping_add(value),
            TseriesAgg::Min => current.0 = better(current.0, value, false),
            TseriesAgg::Max => current.0 = better(current.0, value, true),
        }
    }
    let Some((&epoch, &(value, count))) = by_epoch.last_key_value() else {
        return (0, 0);
    };
    let value = match agg {
        TseriesAgg::Avg if count == 0 => 0,
        TseriesAgg::Avg if signed => (value as i64).wrapping_div(count as i64) as u64,
        TseriesAgg::Avg => value / count,
        _ => value,
    };
    (epoch, value)
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
            AggKind::Hist | AggKind::Lhist | AggKind::Tseries => return None,
        }),
    };
    Some(Entry { key: None, value })
}
