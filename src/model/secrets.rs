//! API keys pasted where they must not be: found by their vendors' published prefixes, and
//! redacted from any text stepwise shows or stores.

/// A key-like token found in some text.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundSecret {
    /// Byte range of the token.
    pub start: usize,
    /// End of the token (exclusive).
    pub end: usize,
    /// Whose key it looks like.
    pub vendor: &'static str,
    /// The environment variable the key belongs in.
    pub env_var: &'static str,
}

/// Known key shapes: prefix, minimum length of the rest, vendor, variable.
const PATTERNS: &[(&str, usize, &str, &str)] = &[
    ("sk-ant-", 20, "Anthropic", "ANTHROPIC_API_KEY"),
    ("sk-proj-", 20, "OpenAI", "OPENAI_API_KEY"),
    ("sk-svcacct-", 20, "OpenAI", "OPENAI_API_KEY"),
    ("sk-or-v1-", 20, "OpenRouter", "OPENROUTER_API_KEY"),
    ("sk-", 32, "OpenAI", "OPENAI_API_KEY"),
    ("AIza", 35, "Google", "GEMINI_API_KEY"),
    ("gsk_", 20, "Groq", "GROQ_API_KEY"),
    ("xai-", 20, "xAI", "XAI_API_KEY"),
    ("pplx-", 20, "Perplexity", "PERPLEXITY_API_KEY"),
    ("hf_", 30, "Hugging Face", "HF_TOKEN"),
    ("r8_", 30, "Replicate", "REPLICATE_API_TOKEN"),
];

fn is_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Every key-like token in `text`.
pub fn find_secrets(text: &str) -> Vec<FoundSecret> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts_token = i == 0 || !is_key_char(bytes[i - 1]);
        if !starts_token
            || !PATTERNS
                .iter()
                .any(|(prefix, ..)| bytes[i..].starts_with(prefix.as_bytes()))
        {
            i += 1;
            continue;
        }
        let end = i + bytes[i..].iter().take_while(|&&b| is_key_char(b)).count();
        let token = &text[i..end];
        let hit = PATTERNS.iter().find(|(prefix, min, ..)| {
            token.starts_with(prefix)
                && token.len() - prefix.len() >= *min
                && token.bytes().any(|b| b.is_ascii_digit())
                && token.bytes().any(|b| b.is_ascii_uppercase())
        });
        if let Some((_, _, vendor, env_var)) = hit {
            found.push(FoundSecret {
                start: i,
                end,
                vendor,
                env_var,
            });
        }
        i = end.max(i + 1);
    }
    found
}

/// `text` with every key-like token replaced by `***`.
pub fn redact(text: &str) -> String {
    redact_owned(text.to_string())
}

/// [`redact`] of a string already owned: returned as it is when it holds no key, so a
/// message without one is not copied.
pub fn redact_owned(text: String) -> String {
    let found = find_secrets(&text);
    if found.is_empty() {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for s in found {
        out.push_str(&text[last..s.start]);
        out.push_str("***");
        last = s.end;
    }
    out.push_str(&text[last..]);
    out
}

/// `text` with every key-like token masked by `*` after its vendor prefix, keeping byte
/// offsets unchanged so spans into the original still fit (for source snippets in output).
pub fn mask(text: &str) -> String {
    let mut out = text.to_string();
    for s in find_secrets(text) {
        let keep = PATTERNS
            .iter()
            .find(|(prefix, ..)| text[s.start..s.end].starts_with(prefix))
            .map_or(0, |(prefix, ..)| prefix.len());
        out.replace_range(s.start + keep..s.end, &"*".repeat(s.end - s.start - keep));
    }
    out
}

/// The shortest run of a key's characters that [`KeyScrubber`] removes: a provider echoing
/// part of a key (`sk-proj-Abc…`) must not leave a usable prefix or suffix behind.
pub const MIN_KEY_RUN: usize = 8;

/// Removes the user's actual keys from text: every run of [`MIN_KEY_RUN`] or more bytes that
/// also occurs in one of the keys (a key shorter than that, wherever it occurs whole).
#[derive(Debug, Clone, Default)]
pub struct KeyScrubber {
    keys: Vec<String>,
    windows: rustc_hash::FxHashSet<[u8; MIN_KEY_RUN]>,
}

impl KeyScrubber {
    /// A scrubber for these key values.
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a str>) -> KeyScrubber {
        let mut scrubber = KeyScrubber::default();
        for key in keys.into_iter().filter(|k| !k.is_empty()) {
            for w in key.as_bytes().windows(MIN_KEY_RUN) {
                scrubber.windows.insert(w.try_into().expect("window length"));
            }
            scrubber.keys.push(key.to_string());
        }
        scrubber
    }

    /// `text` with every run of a key replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        if self.keys.is_empty() {
            return text.to_string();
        }
        let mut text = text.to_string();
        for short in self.keys.iter().filter(|k| k.len() < MIN_KEY_RUN) {
            text = text.replace(short.as_str(), "***");
        }
        let bytes = text.as_bytes();
        let mut out = String::with_capacity(text.len());
        let (mut i, mut copied) = (0, 0);
        while i + MIN_KEY_RUN <= bytes.len() {
            let window: &[u8; MIN_KEY_RUN] = bytes[i..i + MIN_KEY_RUN].try_into().expect("window length");
            if !self.windows.contains(window) || !text.is_char_boundary(i) {
                i += 1;
                continue;
            }
            let mut end = i + MIN_KEY_RUN;
            while end < bytes.len() && self.keys.iter().any(|k| contains(k.as_bytes(), &bytes[i..=end])) {
                end += 1;
            }
            if !text.is_char_boundary(end) {
                i += 1;
                continue;
            }
            out.push_str(&text[copied..i]);
            out.push_str("***");
            copied = end;
            i = end;
        }
        out.push_str(&text[copied..]);
        out
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_run_of_eight_key_characters_is_scrubbed() {
        let key = "sk-proj-AbCdEfGh0123456789XyZ";
        let scrubber = KeyScrubber::new([key]);
        let echoed = format!("bad key {key}; prefix sk-proj-AbCd, tail 456789XyZ, short 0123456 ok");
        let scrubbed = scrubber.scrub(&echoed);
        assert_eq!(scrubbed, "bad key ***; prefix ***, tail ***, short 0123456 ok");
        let long = format!("{}{}", "x".repeat(480), &key[..20]);
        assert_eq!(scrubber.scrub(&long), format!("{}***", "x".repeat(480)));
        assert_eq!(KeyScrubber::new([]).scrub("same"), "same");
        assert_eq!(KeyScrubber::new(["abc"]).scrub("xabcx ü"), "x***x ü");
    }

    #[test]
    fn finds_vendor_keys_but_not_words() {
        let text = "a: sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv0123456789\nb: sk-learning-is-fun\nc: AIzaSyA1234567890abcdefghijklmnopqrstuv\n";
        let found = find_secrets(text);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].vendor, "Anthropic");
        assert_eq!(found[1].env_var, "GEMINI_API_KEY");
        assert!(!redact(text).contains("sk-ant-api03"));
        let masked = mask(text);
        assert_eq!(masked.len(), text.len());
        assert!(masked.contains("sk-ant-*****") && !masked.contains("AbCd"));
    }
}
