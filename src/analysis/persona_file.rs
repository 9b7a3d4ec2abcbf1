//! The editor on a persona library file (`personas/ID.yaml`): completion and hover of its keys
//! and of `params` keys, from the schema. The cursor's place is read from its line's
//! indentation and the key it is under, so a file that does not parse yet completes too.

use super::completion::{CompletionItem, CompletionKind};
use super::hover::HoverInfo;
use crate::model::schema::{self, Level};
use crate::syntax::text::Span;

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-')
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// The level of the mapping the cursor's line is in, the keys already given there, and the
/// key typed so far (`None` when the cursor is in a value).
fn place(text: &str, offset: usize) -> (Option<Level>, Vec<String>, Option<Span>) {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = &text[line_start..line_end];
    let depth = indent(line);
    let before = &text[line_start..offset];
    let in_key = !before.contains(':') && !before.trim_start().starts_with('#');
    // The nearest line above with less indentation names the mapping (none: the top).
    let mut parent: Option<&str> = None;
    let mut siblings = Vec::new();
    for above in text[..line_start].lines().rev() {
        if above.trim().is_empty() || above.trim_start().starts_with('#') {
            continue;
        }
        let key = above.trim_start().split(':').next().unwrap_or("").trim().to_string();
        match indent(above).cmp(&depth) {
            std::cmp::Ordering::Less => {
                parent = Some(above.trim_start().split(':').next().unwrap_or("").trim());
                break;
            }
            std::cmp::Ordering::Equal => siblings.push(key),
            std::cmp::Ordering::Greater => {}
        }
    }
    let level = match parent {
        None if depth == 0 => Some(Level::Persona),
        Some("params") => Some(Level::Params),
        _ => None,
    };
    if parent.is_none() {
        // Keys below the cursor at the top count as given too.
        for below in text[line_end..].lines().filter(|l| indent(l) == 0 && l.contains(':')) {
            siblings.push(below.split(':').next().unwrap_or("").trim().to_string());
        }
    }
    let start = before
        .char_indices()
        .rev()
        .take_while(|&(_, c)| is_word(c))
        .last()
        .map_or(offset, |(i, _)| line_start + i);
    let end = text[offset..line_end]
        .find(|c: char| !is_word(c))
        .map_or(line_end, |i| offset + i);
    (level, siblings, in_key.then_some(Span::new(start, end)))
}

/// Key completions at byte `offset` of a persona file.
pub fn completions(text: &str, offset: usize) -> Vec<CompletionItem> {
    let (Some(level), siblings, Some(word)) = place(text, offset) else {
        return Vec::new();
    };
    let what = if level == Level::Params {
        "generation parameter"
    } else {
        "persona key"
    };
    schema::keys(level)
        .iter()
        .filter(|k| !siblings.contains(&k.name))
        .enumerate()
        .map(|(i, k)| CompletionItem {
            label: k.name.clone(),
            kind: CompletionKind::Key,
            detail: if k.required {
                format!("{what} (required)")
            } else {
                what.to_string()
            },
            documentation: k.description.clone(),
            insert: format!("{}: ", k.name),
            replace: word,
            sort: format!("{}{i:04}", if k.required { 0 } else { 1 }),
        })
        .collect()
}

/// The documentation of the key under the cursor in a persona file.
pub fn hover(text: &str, offset: usize) -> Option<HoverInfo> {
    let line_end = text[offset.min(text.len())..]
        .find('\n')
        .map_or(text.len(), |i| offset + i);
    let line_start = text[..offset.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
    let colon = text[line_start..line_end].find(':').map(|i| line_start + i)?;
    if offset > colon {
        return None;
    }
    let (Some(level), _, Some(word)) = place(text, offset) else {
        return None;
    };
    let key = schema::key_info(level, &text[word.start..word.end])?;
    Some(HoverInfo {
        markdown: format!("**`{}`** · persona file\n\n{}", key.name, key.description),
        span: word,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(fixture: &str) -> Vec<String> {
        let offset = fixture.find("$0").unwrap();
        completions(&fixture.replacen("$0", "", 1), offset)
            .into_iter()
            .map(|i| i.label)
            .collect()
    }

    #[test]
    fn persona_keys_leave_out_those_given_and_params_keys_under_params() {
        let top = labels("name: Critic\nsy$0\n");
        assert!(
            top.contains(&"system".to_string()) && !top.contains(&"name".to_string()),
            "{top:?}"
        );
        let params = labels("name: Critic\nparams:\n  temp$0\n");
        assert!(params.contains(&"temperature".to_string()), "{params:?}");
    }

    #[test]
    fn hover_on_a_key_shows_its_schema_documentation() {
        let text = "name: Critic\nsystem: Be harsh.\n";
        let info = hover(text, text.find("system").unwrap() + 2).unwrap();
        assert!(info.markdown.contains("system"), "{}", info.markdown);
        assert_eq!(&text[info.span.start..info.span.end], "system");
    }
}
