//! The one MiniJinja environment of stepwise: the engine renders with it and analysis asks it
//! which filters, tests and functions exist, so a name `check` accepts is a name a run accepts.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};

use super::template::CallKind;

/// Filters a prompt can use that MiniJinja does not have, offered first in "did you mean".
const OWN_FILTERS: &[&str] = &["lines"];

/// MiniJinja's built-in filters, tests and functions: the candidates of "did you mean" (whether
/// a name exists is always asked of the environment; a test keeps this list honest).
const BUILTIN_FILTERS: &[&str] = &[
    "abs",
    "attr",
    "batch",
    "bool",
    "capitalize",
    "chain",
    "count",
    "d",
    "default",
    "dictsort",
    "e",
    "escape",
    "first",
    "float",
    "format",
    "groupby",
    "indent",
    "int",
    "items",
    "join",
    "last",
    "length",
    "list",
    "lower",
    "map",
    "max",
    "min",
    "pprint",
    "reject",
    "rejectattr",
    "replace",
    "reverse",
    "round",
    "safe",
    "select",
    "selectattr",
    "slice",
    "sort",
    "split",
    "string",
    "sum",
    "title",
    "trim",
    "unique",
    "upper",
    "zip",
];
const BUILTIN_TESTS: &[&str] = &[
    "boolean",
    "defined",
    "divisibleby",
    "endingwith",
    "eq",
    "escaped",
    "even",
    "false",
    "filter",
    "float",
    "ge",
    "gt",
    "in",
    "integer",
    "iterable",
    "le",
    "lower",
    "lt",
    "mapping",
    "ne",
    "none",
    "number",
    "odd",
    "safe",
    "sameas",
    "sequence",
    "startingwith",
    "string",
    "test",
    "true",
    "undefined",
    "upper",
];
const BUILTIN_FUNCTIONS: &[&str] = &["debug", "dict", "namespace", "range"];

/// Names a template may call without defining them (macro plumbing and loops).
const TEMPLATE_LOCALS: &[&str] = &["caller", "loop", "super", "self", "varargs", "kwargs"];

/// At most this many answers are remembered; a client typing random names cannot grow it.
const MEMO_LIMIT: usize = 4096;

/// `text | lines`: the non-blank lines of a text, trimmed (a list passes through).
fn lines(value: Value) -> Value {
    match value.as_str() {
        Some(text) => Value::from(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>(),
        ),
        None => value,
    }
}

/// A fresh environment: strict undefined (a misspelt reference fails the step instead of
/// sending an empty prompt) and the `lines` filter.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_filter("lines", lines);
    env
}

/// Whether the environment has a filter, test or function of this name.
pub fn knows(kind: CallKind, name: &str) -> bool {
    if kind == CallKind::Function && TEMPLATE_LOCALS.contains(&name) {
        return true;
    }
    static MEMO: OnceLock<Mutex<HashMap<(CallKind, String), bool>>> = OnceLock::new();
    let memo = MEMO.get_or_init(Default::default);
    if let Some(known) = memo
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&(kind, name.to_string()))
    {
        return *known;
    }
    let known = ask(kind, name);
    let mut memo = memo.lock().unwrap_or_else(|e| e.into_inner());
    if memo.len() >= MEMO_LIMIT {
        memo.clear();
    }
    memo.insert((kind, name.to_string()), known);
    known
}

/// Renders a one-call template and looks at the kind of error, if any.
fn ask(kind: CallKind, name: &str) -> bool {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    let env = ENV.get_or_init(environment);
    let (source, unknown) = match kind {
        CallKind::Filter => (format!("{{{{ none | {name} }}}}"), ErrorKind::UnknownFilter),
        CallKind::Test => (format!("{{{{ none is {name} }}}}"), ErrorKind::UnknownTest),
        CallKind::Function => return env.globals().any(|(n, _)| n == name),
    };
    match env.render_str(&source, ()) {
        Ok(_) => true,
        Err(e) => e.kind() != unknown,
    }
}

/// The names of this kind to suggest from, stepwise's own first.
pub fn candidates(kind: CallKind) -> impl Iterator<Item = &'static str> {
    let builtin = match kind {
        CallKind::Filter => BUILTIN_FILTERS,
        CallKind::Test => BUILTIN_TESTS,
        CallKind::Function => BUILTIN_FUNCTIONS,
    };
    let own = if kind == CallKind::Filter { OWN_FILTERS } else { &[] };
    own.iter().chain(builtin).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_suggested_name_exists_in_the_environment() {
        for kind in [CallKind::Filter, CallKind::Test, CallKind::Function] {
            for name in candidates(kind) {
                assert!(knows(kind, name), "{} `{name}` is suggested but unknown", kind.noun());
            }
        }
    }

    #[test]
    fn misspelt_names_are_unknown() {
        assert!(!knows(CallKind::Filter, "uper"));
        assert!(!knows(CallKind::Filter, "line"));
        assert!(!knows(CallKind::Test, "defind"));
        assert!(!knows(CallKind::Function, "rnage"));
        assert!(knows(CallKind::Filter, "lines"));
    }
}
