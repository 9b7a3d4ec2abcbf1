//! API keys pasted where they must not be: found by their vendors' published prefixes, and
//! redacted from any text stepwise shows or stores.

use crate::syntax::text::OffsetBy;

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

impl OffsetBy for FoundSecret {
    fn offset_by(&mut self, base: isize) {
        self.start = self.start.wrapping_add_signed(base);
        self.end = self.end.wrapping_add_signed(base);
    }
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
    KEY_CHARS[usize::from(b)]
}

/// Which bytes may be part of a key: ASCII letters and digits, `-` and `_`.
const KEY_CHARS: [bool; 256] = {
    let mut set = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        set[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
        b += 1;
    }
    set
};

/// Which bytes begin a vendor prefix.
const PREFIX_STARTS: [bool; 256] = {
    let mut set = [false; 256];
    let mut i = 0;
    while i < PATTERNS.len() {
        set[PATTERNS[i].0.as_bytes()[0] as usize] = true;
        i += 1;
    }
    set
};

/// The shortest key any pattern accepts: shorter runs (nearly every word) are not looked at.
const SHORTEST_KEY: usize = {
    let mut shortest = usize::MAX;
    let mut i = 0;
    while i < PATTERNS.len() {
        let len = PATTERNS[i].0.len() + PATTERNS[i].1;
        if len < shortest {
            shortest = len;
        }
        i += 1;
    }
    shortest
};

/// The vendor and variable of `token` (a whole run of key characters) if it has a key's shape.
fn key_shape(token: &str) -> Option<(&'static str, &'static str)> {
    PATTERNS
        .iter()
        .find(|(prefix, min, ..)| {
            token.starts_with(prefix)
                && token.len() - prefix.len() >= *min
                && token.bytes().any(|b| b.is_ascii_digit())
                && token.bytes().any(|b| b.is_ascii_uppercase())
        })
        .map(|&(_, _, vendor, env_var)| (vendor, env_var))
}

/// Every key-like token in `text`: each whole run of key characters is looked at once, by
/// its length and first byte before anything else (the scan of every document on open).
pub fn find_secrets(text: &str) -> Vec<FoundSecret> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while let Some(skip) = bytes[i..].iter().position(|&b| is_key_char(b)) {
        let start = i + skip;
        let end = start + bytes[start..].iter().take_while(|&&b| is_key_char(b)).count();
        if end - start >= SHORTEST_KEY
            && PREFIX_STARTS[usize::from(bytes[start])]
            && let Some((vendor, env_var)) = key_shape(&text[start..end])
        {
            found.push(FoundSecret {
                start,
                end,
                vendor,
                env_var,
            });
        }
        i = end;
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
    let found: Vec<_> = find_secrets(&text).into_iter().map(|s| s.start..s.end).collect();
    if found.is_empty() {
        return text;
    }
    replace_ranges(&text, &found)
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
/// also occurs in one of the keys, and a key shorter than that wherever it stands as a whole
/// token (inside a word it is only letters: removing them would garble every answer).
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
        replace_ranges(text, &self.ranges(text))
    }

    /// A scrubber for text that arrives in pieces, such as a streamed answer.
    pub fn stream(&self) -> StreamScrubber<'_> {
        StreamScrubber {
            scrubber: self,
            shown_tail: String::new(),
            pending: String::new(),
        }
    }

    /// The byte ranges of `text` to remove, in order and disjoint.
    fn ranges(&self, text: &str) -> Vec<std::ops::Range<usize>> {
        let mut ranges = Vec::new();
        if self.keys.is_empty() {
            return ranges;
        }
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if let Some(end) = self.run_at(text, i).or_else(|| self.short_key_at(text, i)) {
                ranges.push(i..end);
                i = end;
            } else {
                i += 1;
            }
        }
        ranges
    }

    /// The end of the longest run of key bytes starting at `i`, if it is long enough.
    fn run_at(&self, text: &str, i: usize) -> Option<usize> {
        let bytes = text.as_bytes();
        let window: &[u8; MIN_KEY_RUN] = bytes.get(i..i + MIN_KEY_RUN)?.try_into().ok()?;
        if !self.windows.contains(window) || !text.is_char_boundary(i) {
            return None;
        }
        let mut end = i + MIN_KEY_RUN;
        while end < bytes.len() && self.keys.iter().any(|k| contains(k.as_bytes(), &bytes[i..=end])) {
            end += 1;
        }
        text.is_char_boundary(end).then_some(end)
    }

    /// The end of a short key standing as a whole token at `i`.
    fn short_key_at(&self, text: &str, i: usize) -> Option<usize> {
        let bytes = text.as_bytes();
        if i > 0 && is_key_char(bytes[i - 1]) {
            return None;
        }
        self.short_keys()
            .find(|k| bytes[i..].starts_with(k.as_bytes()) && !bytes.get(i + k.len()).is_some_and(|&b| is_key_char(b)))
            .map(|k| i + k.len())
    }

    fn short_keys(&self) -> impl Iterator<Item = &String> {
        self.keys.iter().filter(|k| k.len() < MIN_KEY_RUN)
    }

    /// Where text that may still grow into a run of a key, or a short key, begins: everything
    /// before it is final.
    fn settled_len(&self, text: &str) -> usize {
        let bytes = text.as_bytes();
        let len = bytes.len();
        let ranges = self.ranges(text);
        let mut cut = (len.saturating_sub(MIN_KEY_RUN - 1)..len)
            .find(|&p| self.keys.iter().any(|k| contains(k.as_bytes(), &bytes[p..])))
            .unwrap_or(len);
        if let Some(r) = ranges.last().filter(|r| r.end == len) {
            cut = cut.min(r.start);
        }
        if self.short_keys().next().is_some() {
            let token = bytes.iter().rev().take_while(|&&b| is_key_char(b)).count();
            cut = cut.min(len - token);
        }
        for r in ranges.iter().rev() {
            if r.start < cut && cut < r.end {
                cut = r.start;
            }
        }
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        cut
    }
}

/// Scrubs a text given piece by piece, so a key split across pieces is still removed: each
/// piece returns what is settled, holding back a tail that could still become part of a key.
/// The last bytes already shown are kept as context, so a run that began in them is caught.
#[derive(Debug)]
pub struct StreamScrubber<'a> {
    scrubber: &'a KeyScrubber,
    shown_tail: String,
    pending: String,
}

impl StreamScrubber<'_> {
    /// Takes the next piece; returns the scrubbed text that can be shown now.
    pub fn push(&mut self, piece: &str) -> String {
        self.pending.push_str(piece);
        let text = format!("{}{}", self.shown_tail, self.pending);
        let cut = self.scrubber.settled_len(&text).max(self.shown_tail.len());
        let shown = self.scrubbed(&text, cut);
        let mut keep = cut.saturating_sub(MIN_KEY_RUN - 1);
        while !text.is_char_boundary(keep) {
            keep += 1;
        }
        self.shown_tail = text[keep..cut].to_string();
        self.pending = text[cut..].to_string();
        shown
    }

    /// The scrubbed rest, once the text is complete.
    pub fn finish(&mut self) -> String {
        let text = format!("{}{}", self.shown_tail, std::mem::take(&mut self.pending));
        let shown = self.scrubbed(&text, text.len());
        self.shown_tail.clear();
        shown
    }

    /// `text[shown_tail.len()..end]` scrubbed, with the runs found in all of `text`.
    fn scrubbed(&self, text: &str, end: usize) -> String {
        let start = self.shown_tail.len();
        let ranges: Vec<_> = self
            .scrubber
            .ranges(text)
            .into_iter()
            .map(|r| r.start.max(start) - start..r.end.min(end).max(start) - start)
            .filter(|r| !r.is_empty())
            .collect();
        replace_ranges(&text[start..end], &ranges)
    }
}

fn replace_ranges(text: &str, ranges: &[std::ops::Range<usize>]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for r in ranges {
        out.push_str(&text[last..r.start]);
        out.push_str("***");
        last = r.end;
    }
    out.push_str(&text[last..]);
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
        assert_eq!(KeyScrubber::new(["abc"]).scrub("xabcx ü abc"), "xabcx ü ***");
    }

    #[test]
    fn a_key_split_across_pieces_is_scrubbed_and_nothing_else_is_held() {
        let key = "sk-proj-AbCdEfGh0123456789XyZ";
        let scrubber = KeyScrubber::new([key, "k9"]);
        let text = format!("Here: {key} and k9, ok k9x. Done");
        for size in 1..=text.len() {
            let mut stream = scrubber.stream();
            let mut shown = String::new();
            for piece in text.as_bytes().chunks(size) {
                shown.push_str(&stream.push(std::str::from_utf8(piece).unwrap()));
            }
            shown.push_str(&stream.finish());
            assert_eq!(shown, "Here: *** and ***, ok k9x. Done", "pieces of {size}");
        }
        let mut stream = scrubber.stream();
        assert_eq!(stream.push("plain words. "), "plain words. ");
        let mut stream = scrubber.stream();
        let shown = [stream.push("key sk-"), stream.push("proj-AbCd"), stream.finish()].concat();
        assert_eq!(shown, "key ***");
    }

    /// Text where key-shaped tokens, their prefixes and separators meet in every order.
    const PIECES: &[&str] = &[
        "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv0123456789",
        "AIzaSyA1234567890abcdefghijklmnopqrstuV",
        "hf_AbCdEfGhIjKlMnOpQrStUvWxYz012345",
        "sk-",
        "x",
        "-",
        " ",
        "é",
        "\n",
    ];

    proptest! {
        #[test]
        fn the_tokens_found_are_the_whole_runs_of_key_characters_with_a_keys_shape(
            pieces in proptest::collection::vec(proptest::sample::select(PIECES), 0..12)
        ) {
            let text = pieces.concat();
            let mut runs = Vec::new();
            let mut start = None;
            for (i, b) in text.bytes().chain([b' ']).enumerate() {
                match (is_key_char(b), start) {
                    (true, None) => start = Some(i),
                    (false, Some(s)) => {
                        runs.push((s, i));
                        start = None;
                    }
                    _ => {}
                }
            }
            let expected: Vec<(usize, usize)> =
                runs.into_iter().filter(|&(s, e)| key_shape(&text[s..e]).is_some()).collect();
            let found: Vec<(usize, usize)> = find_secrets(&text).iter().map(|f| (f.start, f.end)).collect();
            prop_assert_eq!(found, expected);
        }
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
