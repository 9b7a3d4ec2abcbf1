//! The editor on `stepwise.toml`: completion of keys, provider IDs, provider kinds and model
//! IDs, and hover on keys (their schema documentation), providers and models. The cursor's
//! place is read from the line it is on and the table header above it, so a file that does
//! not parse yet (as it is while someone types) completes all the same.

use super::completion::{CompletionItem, CompletionKind};
use super::hover::{HoverInfo, provider_markdown};
use crate::model::catalog::{Catalog, ProviderInfo};
use crate::model::config_file::PROVIDER_KINDS;
use crate::model::schema::{self, Level};
use crate::model::workspace::Workspace;
use crate::syntax::text::Span;

/// Which table the cursor is in.
#[derive(Debug, Clone, PartialEq)]
enum Table {
    /// Above every header.
    Top,
    /// `[providers.ID]`.
    Provider(String),
    /// Another table (`[providers]` alone, a typo…): nothing to offer.
    Other,
}

/// Where the cursor is on its line.
#[derive(Debug, Clone, PartialEq)]
enum Slot {
    /// Typing a table header: `[providers.ID` so far.
    Header,
    /// Typing a key.
    Key,
    /// Typing the value of `key`; `quoted` when inside a string already.
    Value { key: String, quoted: bool },
}

/// The cursor's context: its table, its slot and the word it is in.
struct Cursor {
    table: Table,
    slot: Slot,
    word: Span,
    /// The keys already given in the cursor's table.
    siblings: Vec<String>,
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/')
}

fn header_table(line: &str) -> Option<Table> {
    let inner = line.trim().strip_prefix('[')?;
    let name = inner.split(']').next().unwrap_or(inner).trim();
    Some(match name.strip_prefix("providers.") {
        Some(id) if !id.is_empty() && !id.contains('.') => Table::Provider(id.trim_matches('"').to_string()),
        _ => Table::Other,
    })
}

fn key_of(line: &str) -> Option<&str> {
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    (!key.is_empty() && !key.starts_with('#') && !key.starts_with('[')).then_some(key)
}

fn cursor(text: &str, offset: usize) -> Cursor {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let before = &text[line_start..offset];
    let mut table = Table::Top;
    let mut siblings = Vec::new();
    for line in text[..line_start].lines() {
        if let Some(t) = header_table(line) {
            table = t;
            siblings.clear();
        } else if let Some(key) = key_of(line) {
            siblings.push(key.to_string());
        }
    }
    let after_start = text[offset..line_end]
        .find(|c: char| !is_word(c))
        .map_or(line_end, |i| offset + i);
    let word_start = before
        .char_indices()
        .rev()
        .take_while(|&(_, c)| is_word(c))
        .last()
        .map_or(offset, |(i, _)| line_start + i);
    let slot = if before.trim_start().starts_with('[') {
        Slot::Header
    } else if let Some((key, value)) = before.split_once('=') {
        Slot::Value {
            key: key.trim().to_string(),
            quoted: value.matches('"').count() % 2 == 1,
        }
    } else {
        Slot::Key
    };
    let word = match slot {
        // In a header the word is the provider ID after `providers.`.
        Slot::Header => {
            let dot = before.rfind('.').map_or(word_start, |i| line_start + i + 1);
            Span::new(dot.max(word_start), after_start)
        }
        _ => Span::new(word_start, after_start),
    };
    Cursor {
        table,
        slot,
        word,
        siblings,
    }
}

fn item(label: &str, kind: CompletionKind, detail: String, documentation: String, insert: String) -> CompletionItem {
    CompletionItem {
        label: label.to_string(),
        kind,
        detail,
        documentation,
        insert,
        replace: Span::default(),
        sort: String::new(),
    }
}

/// The documentation of each provider kind, from the schema.
fn kinds() -> Vec<(&'static str, String)> {
    let one_of = schema::config_schema()
        .get("definitions")
        .and_then(|d| d.get("ProviderKind"))
        .and_then(|k| k.get("oneOf"))
        .and_then(|o| o.as_array());
    PROVIDER_KINDS
        .iter()
        .map(|kind| {
            let doc = one_of
                .into_iter()
                .flatten()
                .find(|v| v.get("const").and_then(|c| c.as_str()) == Some(kind))
                .and_then(|v| v.get("description"))
                .and_then(|d| d.as_str())
                .unwrap_or_default()
                .to_string();
            (*kind, doc)
        })
        .collect()
}

fn quote(value: &str, quoted: bool) -> String {
    if quoted {
        value.to_string()
    } else {
        format!("\"{value}\"")
    }
}

fn provider_items(catalog: &Catalog, quoted: bool) -> Vec<CompletionItem> {
    catalog
        .providers()
        .iter()
        .map(|p| {
            let doc = provider_markdown(catalog, &p.id);
            item(
                &p.id,
                CompletionKind::Provider,
                p.status_label(),
                doc,
                quote(&p.id, quoted),
            )
        })
        .collect()
}

fn model_items(provider: &ProviderInfo, quoted: bool) -> Vec<CompletionItem> {
    provider
        .models
        .iter()
        .map(|m| {
            let default = if m.id == provider.default_model {
                " (default)"
            } else {
                ""
            };
            let detail = format!("{}{default}", provider.id);
            item(
                &m.id,
                CompletionKind::Model,
                detail,
                m.description.clone(),
                quote(&m.id, quoted),
            )
        })
        .collect()
}

fn level_of(table: &Table) -> Option<Level> {
    match table {
        Table::Top => Some(Level::Config),
        Table::Provider(_) => Some(Level::Provider),
        Table::Other => None,
    }
}

/// Completions at byte `offset` of a `stepwise.toml` whose text is `text`.
pub fn completions(text: &str, offset: usize, ws: &Workspace) -> Vec<CompletionItem> {
    let at = cursor(text, offset);
    let catalog = &ws.catalog;
    let mut items = match &at.slot {
        Slot::Header => {
            let before = &text[..offset.min(text.len())];
            let line = &before[before.rfind('\n').map_or(0, |i| i + 1)..];
            if !line.trim_start().trim_start_matches('[').starts_with("providers.") {
                Vec::new()
            } else {
                provider_items(catalog, true)
            }
        }
        Slot::Key => match level_of(&at.table) {
            Some(level) => schema::keys(level)
                .iter()
                .filter(|k| !at.siblings.contains(&k.name) && k.name != "providers")
                .map(|k| {
                    let what = if level == Level::Config {
                        "stepwise.toml key"
                    } else {
                        "provider key"
                    };
                    item(
                        &k.name,
                        CompletionKind::Key,
                        what.to_string(),
                        k.description.clone(),
                        format!("{} = ", k.name),
                    )
                })
                .collect(),
            None => Vec::new(),
        },
        Slot::Value { key, quoted } => match (&at.table, key.as_str()) {
            (Table::Top, "default_provider") => provider_items(catalog, *quoted),
            (Table::Provider(_), "kind") => kinds()
                .into_iter()
                .map(|(kind, doc)| {
                    item(
                        kind,
                        CompletionKind::Provider,
                        "provider kind".to_string(),
                        doc,
                        quote(kind, *quoted),
                    )
                })
                .collect(),
            (Table::Provider(id), "default_model" | "models") => catalog
                .provider(id)
                .map(|p| model_items(p, *quoted))
                .unwrap_or_default(),
            _ => Vec::new(),
        },
    };
    for (i, item) in items.iter_mut().enumerate() {
        item.replace = at.word;
        item.sort = format!("{i:04}");
    }
    items
}

/// The hover at byte `offset` of a `stepwise.toml`: a key's documentation, a provider, a model.
pub fn hover(text: &str, offset: usize, ws: &Workspace) -> Option<HoverInfo> {
    let at = cursor(text, offset);
    if at.word.is_empty() {
        return None;
    }
    let word = text[at.word.start..at.word.end].to_string();
    let catalog = &ws.catalog;
    let markdown = match (&at.slot, &at.table) {
        (Slot::Header, _) => {
            let line_start = text[..at.word.start].rfind('\n').map_or(0, |i| i + 1);
            let on_provider = header_table(&text[line_start..at.word.end]) == Some(Table::Provider(word.clone()));
            if !on_provider {
                return None;
            }
            provider_markdown(catalog, &word)
        }
        (Slot::Key, table) => {
            let key = schema::key_info(level_of(table)?, &word)?;
            format!("**`{}`** · {}\n\n{}", key.name, where_(table), key.description)
        }
        (Slot::Value { key, .. }, Table::Top) if key == "default_provider" => provider_markdown(catalog, &word),
        (Slot::Value { key, .. }, Table::Provider(_)) if key == "kind" => {
            let (kind, doc) = kinds().into_iter().find(|(k, _)| *k == word)?;
            format!("**kind `{kind}`**\n\n{doc}")
        }
        (Slot::Value { key, .. }, Table::Provider(id)) if key == "default_model" || key == "models" => {
            let provider = catalog.provider(id)?;
            match provider.models.iter().find(|m| m.id == word) {
                Some(m) => format!("**model `{}`** · `{}`\n\n{}", m.id, provider.id, m.description),
                None => format!(
                    "**model `{word}`** · `{}`\n\nNot in the provider's catalog.",
                    provider.id
                ),
            }
        }
        _ => return None,
    };
    Some(HoverInfo {
        markdown,
        span: at.word,
    })
}

fn where_(table: &Table) -> String {
    match table {
        Table::Provider(id) => format!("`[providers.{id}]`"),
        _ => "stepwise.toml".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::catalog::ProcessEnv;

    /// The text with `$0` removed, and the cursor's offset.
    fn at(fixture: &str) -> (String, usize) {
        let offset = fixture.find("$0").expect("a $0 cursor");
        (fixture.replacen("$0", "", 1), offset)
    }

    fn labels(fixture: &str) -> Vec<String> {
        let (text, offset) = at(fixture);
        completions(&text, offset, &Workspace::detached(&ProcessEnv))
            .into_iter()
            .map(|i| i.label)
            .collect()
    }

    #[test]
    fn top_level_keys_leave_out_those_given() {
        let got = labels("concurrency = 3\ncon$0\n");
        assert!(got.contains(&"max_retries".to_string()), "{got:?}");
        assert!(!got.contains(&"concurrency".to_string()), "{got:?}");
    }

    #[test]
    fn provider_keys_inside_a_provider_table() {
        let got = labels("[providers.groq]\nkind = \"openai\"\n$0\n");
        assert!(
            got.contains(&"base_url".to_string()) && !got.contains(&"kind".to_string()),
            "{got:?}"
        );
    }

    #[test]
    fn kinds_and_models_and_providers_as_values() {
        assert_eq!(labels("[providers.x]\nkind = \"$0\"\n"), PROVIDER_KINDS);
        assert!(labels("[providers.openai]\ndefault_model = \"gpt$0\"\n").contains(&"gpt-4o".to_string()));
        assert!(labels("default_provider = $0\n").contains(&"anthropic".to_string()));
        assert!(labels("[providers.$0]\n").contains(&"ollama".to_string()));
    }

    #[test]
    fn hover_on_a_provider_table_header_explains_the_provider() {
        let (text, offset) = at("concurrency = 3\n[providers.open$0ai]\n");
        let info = hover(&text, offset, &Workspace::detached(&ProcessEnv)).unwrap();
        assert!(info.markdown.starts_with("**provider `openai`**"), "{}", info.markdown);
    }

    #[test]
    fn hover_documents_keys_from_the_schema() {
        let (text, offset) = at("conc$0urrency = 3\n");
        let info = hover(&text, offset, &Workspace::detached(&ProcessEnv)).unwrap();
        assert!(
            info.markdown.contains("Global limit of requests in flight"),
            "{}",
            info.markdown
        );
        assert_eq!(info.span, Span::new(0, 11));
    }
}
