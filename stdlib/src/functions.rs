//! Builtin functions and aggregations.

use rbt_compiler::catalogue::{AggKind, Function, FunctionKind};

const fn function(
    name: &'static str,
    signature: &'static str,
    kind: FunctionKind,
    min_args: usize,
    max_args: usize,
    doc: &'static str,
) -> Function {
    Function {
        name,
        signature,
        doc,
        kind,
        min_args,
        max_args,
    }
}

pub fn all() -> Vec<Function> {
    use AggKind::*;
    use FunctionKind::*;
    vec![
        function(
            "printf",
            "printf(format, args...)",
            Printf,
            1,
            65,
            "Prints formatted text: printf(\"%s opened %d\\n\", comm, pid).",
        ),
        function(
            "print",
            "print(@map[, top[, div]]) or print(value)",
            Print,
            1,
            3,
            "Prints a map now (optionally only the `top` largest entries, values divided by `div`), or a value.",
        ),
        function(
            "exit",
            "exit([code])",
            Exit,
            0,
            1,
            "Ends the script after this event: end probes run and the maps are printed.",
        ),
        function(
            "clear",
            "clear(@map)",
            Clear,
            1,
            1,
            "Removes every key of a map.",
        ),
        function(
            "zero",
            "zero(@map)",
            Zero,
            1,
            1,
            "Sets every value of a map to zero.",
        ),
        function(
            "delete",
            "delete(@map, key) or delete(@map[key])",
            Delete,
            1,
            2,
            "Removes one key of a map; true if it was there.",
        ),
        function(
            "str",
            "str(pointer[, length])",
            Str,
            1,
            2,
            "Reads a NUL-terminated string from memory: str(args.filename).",
        ),
        function(
            "count",
            "count()",
            Aggregation(Count),
            0,
            0,
            "Counts events: @[comm] = count().",
        ),
        function(
            "sum",
            "sum(value)",
            Aggregation(Sum),
            1,
            1,
            "Adds up values: @bytes[pid] = sum(args.count).",
        ),
        function(
            "avg",
            "avg(value)",
            Aggregation(Avg),
            1,
            1,
            "Averages values (integer division).",
        ),
        function(
            "min",
            "min(value)",
            Aggregation(Min),
            1,
            1,
            "Keeps the smallest value.",
        ),
        function(
            "max",
            "max(value)",
            Aggregation(Max),
            1,
            1,
            "Keeps the largest value.",
        ),
        function(
            "stats",
            "stats(value)",
            Aggregation(Stats),
            1,
            1,
            "Keeps count, average and total.",
        ),
        function(
            "hist",
            "hist(value[, bits])",
            Aggregation(Hist),
            1,
            2,
            "A power-of-two histogram; `bits` (0-5) splits each power of two into 2^bits buckets.",
        ),
        function(
            "lhist",
            "lhist(value, min, max, step)",
            Aggregation(Lhist),
            4,
            4,
            "A linear histogram from min to max in steps of `step`.",
        ),
    ]
}
