//! `stepwise.toml` read the way the editor needs it: parsed with the `toml` crate's own
//! span-keeping tree (`toml::de::DeTable`, the parser behind `toml::from_str`, which recovers
//! after a syntax error, so no second TOML grammar and no new dependency), then lowered key by
//! key against the schema. Every problem is reported at its place, and every setting that is
//! right is kept: one mistake neither hides the others nor the providers the file declares.

use toml::de::{DeTable, DeValue};
use toml::{Spanned, Table, Value};

use super::catalog::BUILTIN_PROVIDERS;
use super::diagnostic::{Code, Diagnostic, did_you_mean, nearest};
use super::schema::{self, Level};
use crate::syntax::text::Span;

/// What a `stepwise.toml` says: the settings that are right, and what is wrong, where.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigFile {
    /// The well-formed settings, as a table (layered over the user's config like a whole file).
    pub table: Table,
    /// Every problem, at its place in the file.
    pub diagnostics: Vec<Diagnostic>,
}

/// The kinds a provider may have, as written in `kind = "…"`.
pub const PROVIDER_KINDS: [&str; 4] = ["anthropic", "openai", "google", "ollama"];

/// Parses and checks the text of a `stepwise.toml`.
pub fn lower(text: &str) -> ConfigFile {
    let (root, errors) = DeTable::parse_recoverable(text);
    let mut lowering = Lowering::default();
    let mut last_line = None;
    for error in errors {
        let span = error
            .span()
            .map_or(Span::empty(0), |r| visible(text, Span::new(r.start, r.end)));
        // The parser's further complaints on the same line follow from the first one.
        let line = text[..span.start.min(text.len())].matches('\n').count();
        if last_line.replace(line) == Some(line) {
            continue;
        }
        let message = format!("TOML syntax: {}", error.message().trim_end());
        lowering.push(Code::InvalidConfig, span, message);
    }
    lowering.top(root.get_ref());
    let mut diagnostics = lowering.diagnostics;
    diagnostics.sort_by_key(|d| (d.span.start, d.span.end));
    ConfigFile {
        table: lowering.table,
        diagnostics,
    }
}

/// An empty span widened to the character at it, or before it at the end of a line, so the
/// editor has something to underline.
fn visible(text: &str, span: Span) -> Span {
    if !span.is_empty() || span.start > text.len() {
        return span;
    }
    let at = span.start;
    match (text[at..].chars().next(), text[..at].chars().next_back()) {
        (Some(c), _) if c != '\n' && c != '\r' => Span::new(at, at + c.len_utf8()),
        (_, Some(c)) if c != '\n' => Span::new(at - c.len_utf8(), at),
        _ => span,
    }
}

/// The kind of value a key takes.
#[derive(Clone, Copy)]
enum Expect {
    Text,
    Count,
    Texts,
    Prices,
}

impl Expect {
    fn of(level: Level, key: &str) -> Option<Expect> {
        Some(match (level, key) {
            (Level::Config, "default_provider" | "runs_dir") => Expect::Text,
            (Level::Config, "persona_dirs") => Expect::Texts,
            (Level::Config, "concurrency" | "max_retries" | "timeout_secs") => Expect::Count,
            (Level::Provider, "kind" | "base_url" | "api_key_env" | "default_model") => Expect::Text,
            (Level::Provider, "models") => Expect::Texts,
            (Level::Provider, "prices") => Expect::Prices,
            _ => return None,
        })
    }

    fn describe(self) -> &'static str {
        match self {
            Expect::Text => "a string",
            Expect::Count => "a whole number",
            Expect::Texts => "an array of strings",
            Expect::Prices => "a table of model IDs to `{ input = …, output = … }`",
        }
    }
}

#[derive(Default)]
struct Lowering {
    table: Table,
    diagnostics: Vec<Diagnostic>,
}

fn span_of<T>(spanned: &Spanned<T>) -> Span {
    let r = spanned.span();
    Span::new(r.start, r.end)
}

impl Lowering {
    fn push(&mut self, code: Code, span: Span, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::new(code, span, message));
    }

    /// Whether `key` is allowed at `level`; reports it with the nearest keys if not.
    fn known(&mut self, level: Level, key: &Spanned<std::borrow::Cow<'_, str>>, what: &str) -> bool {
        let allowed = schema::keys(level);
        if allowed.iter().any(|k| k.name == key.get_ref().as_ref()) {
            return true;
        }
        let name = key.get_ref().as_ref();
        let suggestions = nearest(name, allowed.iter().map(|k| k.name.as_str()));
        let message = format!(
            "unknown key `{name}` in {what}{}",
            if suggestions.is_empty() {
                let expected: Vec<String> = allowed.iter().map(|k| format!("`{}`", k.name)).collect();
                format!("; expected one of {}", expected.join(", "))
            } else {
                did_you_mean(&suggestions)
            }
        );
        self.diagnostics
            .push(Diagnostic::new(Code::UnknownKey, span_of(key), message).with_suggestions(suggestions));
        false
    }

    /// The value of `key` as `expect` says, or a `wrong-type`/`invalid-value` at its place.
    fn value(&mut self, key: &str, value: &Spanned<DeValue<'_>>, expect: Expect) -> Option<Value> {
        let span = span_of(value);
        let wrong = |found: &str| format!("`{key}` must be {}, found {found}", expect.describe());
        match (expect, value.get_ref()) {
            (Expect::Text, DeValue::String(s)) => Some(Value::String(s.to_string())),
            (Expect::Count, DeValue::Integer(i)) => {
                match i64::from_str_radix(i.as_str(), i.radix()).ok().filter(|n| *n >= 0) {
                    Some(n) if key != "timeout_secs" && n > i64::from(u32::MAX) => {
                        let message = format!("`{key}` must be at most {}", u32::MAX);
                        self.push(Code::InvalidValue, span, message);
                        None
                    }
                    Some(n) => Some(Value::Integer(n)),
                    None => {
                        self.push(Code::InvalidValue, span, format!("`{key}` must be 0 or more"));
                        None
                    }
                }
            }
            (Expect::Texts, DeValue::Array(items)) => {
                let mut out = Vec::new();
                for item in items {
                    match item.get_ref() {
                        DeValue::String(s) => out.push(Value::String(s.to_string())),
                        other => {
                            let message = format!("each of `{key}` must be a string, found {}", other.type_str());
                            self.push(Code::WrongType, span_of(item), message);
                        }
                    }
                }
                Some(Value::Array(out))
            }
            (Expect::Prices, DeValue::Table(models)) => {
                let mut out = Table::new();
                for (model, price) in models {
                    if let Some(price) = self.price(model.get_ref(), price) {
                        out.insert(model.get_ref().to_string(), price);
                    }
                }
                Some(Value::Table(out))
            }
            (_, other) => {
                self.push(Code::WrongType, span, wrong(other.type_str()));
                None
            }
        }
    }

    /// One model's `{ input = …, output = … }` (USD per million tokens), if it is whole.
    fn price(&mut self, model: &str, value: &Spanned<DeValue<'_>>) -> Option<Value> {
        let Some(sides) = value.get_ref().as_table() else {
            let found = value.get_ref().type_str();
            let message = format!("the price of `{model}` must be `{{ input = …, output = … }}`, found {found}");
            self.push(Code::WrongType, span_of(value), message);
            return None;
        };
        let mut out = Table::new();
        for (side, amount) in sides {
            let name = side.get_ref().as_ref();
            if !matches!(name, "input" | "output") {
                let suggestions = nearest(name, ["input", "output"]);
                let message = format!(
                    "unknown key `{name}` in the price of `{model}`{}",
                    if suggestions.is_empty() {
                        "; expected `input`, `output`".to_string()
                    } else {
                        did_you_mean(&suggestions)
                    }
                );
                self.diagnostics
                    .push(Diagnostic::new(Code::UnknownKey, span_of(side), message).with_suggestions(suggestions));
                continue;
            }
            let usd = match amount.get_ref() {
                DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
                DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok().map(|n| n as f64),
                _ => None,
            };
            match usd {
                Some(usd) if usd >= 0.0 && usd.is_finite() => {
                    out.insert(name.to_string(), Value::Float(usd));
                }
                _ => {
                    let message =
                        format!("`{name}` of `{model}` must be a number of USD per million tokens, 0 or more");
                    self.push(Code::InvalidValue, span_of(amount), message);
                }
            }
        }
        let missing: Vec<&str> = ["input", "output"]
            .into_iter()
            .filter(|s| !sides.contains_key(*s))
            .collect();
        if !missing.is_empty() {
            let message = format!("the price of `{model}` needs `{}`", missing.join("` and `"));
            self.push(Code::MissingField, span_of(value), message);
        }
        (out.len() == 2).then_some(Value::Table(out))
    }

    fn top(&mut self, root: &DeTable<'_>) {
        let declared: Vec<String> = root
            .get("providers")
            .and_then(|p| p.get_ref().as_table())
            .map(|t| t.keys().map(|k| k.get_ref().to_string()).collect())
            .unwrap_or_default();
        for (key, value) in root {
            if !self.known(Level::Config, key, "stepwise.toml") {
                continue;
            }
            let name = key.get_ref().as_ref();
            if name == "providers" {
                self.providers(value);
                continue;
            }
            let Some(expect) = Expect::of(Level::Config, name) else {
                continue;
            };
            let Some(lowered) = self.value(name, value, expect) else {
                continue;
            };
            if name == "default_provider"
                && let Value::String(id) = &lowered
                && !BUILTIN_PROVIDERS.contains(&id.as_str())
                && !declared.contains(id)
            {
                let choices = BUILTIN_PROVIDERS
                    .iter()
                    .copied()
                    .chain(declared.iter().map(String::as_str));
                let suggestions = nearest(id, choices);
                let message = format!(
                    "unknown provider `{id}`{}",
                    if suggestions.is_empty() {
                        "; declare it under `[providers.ID]` or name a built-in one".to_string()
                    } else {
                        did_you_mean(&suggestions)
                    }
                );
                // Still in force: the steps it governs say the provider is unknown, not missing.
                self.diagnostics.push(
                    Diagnostic::new(Code::UnknownProvider, span_of(value), message).with_suggestions(suggestions),
                );
            }
            self.table.insert(name.to_string(), lowered);
        }
    }

    fn providers(&mut self, value: &Spanned<DeValue<'_>>) {
        let Some(tables) = value.get_ref().as_table() else {
            let message = format!(
                "`providers` must be a table of `[providers.ID]` tables, found {}",
                value.get_ref().type_str()
            );
            self.push(Code::WrongType, span_of(value), message);
            return;
        };
        let mut lowered = Table::new();
        for (id, provider) in tables {
            let id_text = id.get_ref().to_string();
            let Some(keys) = provider.get_ref().as_table() else {
                let message = format!(
                    "`providers.{id_text}` must be a table (`[providers.{id_text}]`), found {}",
                    provider.get_ref().type_str()
                );
                self.push(Code::WrongType, span_of(provider), message);
                continue;
            };
            let what = format!("`[providers.{id_text}]`");
            let mut table = Table::new();
            for (key, value) in keys {
                if !self.known(Level::Provider, key, &what) {
                    continue;
                }
                let name = key.get_ref().as_ref();
                let Some(expect) = Expect::of(Level::Provider, name) else {
                    continue;
                };
                let Some(v) = self.value(name, value, expect) else {
                    continue;
                };
                if let Some(problem) = self.provider_value(name, &v) {
                    self.push(Code::InvalidValue, span_of(value), problem);
                    continue;
                }
                table.insert(name.to_string(), v);
            }
            let built_in = BUILTIN_PROVIDERS.contains(&id_text.as_str());
            let keyless = table.get("kind").and_then(Value::as_str) == Some("ollama");
            if !built_in && !keyless && !keys.contains_key("base_url") {
                let message =
                    format!("`{id_text}` is not a built-in provider, so it needs `base_url` (where to send requests)");
                self.push(Code::MissingField, span_of(id), message);
            }
            lowered.insert(id_text, Value::Table(table));
        }
        self.table.insert("providers".to_string(), Value::Table(lowered));
    }

    /// What is wrong with a provider setting of the right type, if anything.
    fn provider_value(&self, key: &str, value: &Value) -> Option<String> {
        let text = value.as_str()?;
        match key {
            "kind" if !PROVIDER_KINDS.contains(&text) => {
                let suggestions = nearest(text, PROVIDER_KINDS);
                let choices: Vec<String> = PROVIDER_KINDS.iter().map(|k| format!("`{k}`")).collect();
                Some(format!(
                    "unknown provider kind `{text}`{} (choices: {})",
                    did_you_mean(&suggestions),
                    choices.join(", ")
                ))
            }
            "base_url" => match url::Url::parse(text) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => None,
                Ok(_) | Err(url::ParseError::RelativeUrlWithoutBase) => Some(
                    "`base_url` must be an http:// or https:// URL with a host, e.g. `http://localhost:8080/v1`"
                        .to_string(),
                ),
                Err(e) => Some(format!("`base_url` is not a URL: {e}")),
            },
            "api_key_env" if text.is_empty() || !text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                Some("`api_key_env` must name an environment variable (letters, digits and `_`)".to_string())
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_setting_keeps_the_providers_declared_next_to_it() {
        let file =
            lower("concurency = 3\n[providers.localai]\nkind = \"openai\"\nbase_url = \"http://localhost:8080/v1\"\n");
        assert_eq!(file.diagnostics.len(), 1, "{:?}", file.diagnostics);
        assert!(file.diagnostics[0].message.contains("did you mean `concurrency`?"));
        assert!(file.table["providers"].get("localai").is_some());
    }

    #[test]
    fn syntax_errors_are_all_reported_and_what_parsed_is_kept() {
        let file = lower("runs_dir = \"out\"\nconcurrency = = 3\nmax_retries = 1\n");
        assert_eq!(file.diagnostics.len(), 1, "{:?}", file.diagnostics);
        assert!(file.diagnostics.iter().any(|d| d.code == Code::InvalidConfig));
        assert_eq!(file.table.get("runs_dir").and_then(Value::as_str), Some("out"));
    }
}
