//! The names a reference may be checked against (step IDs, inputs, personas), kept sorted so
//! that a lookup is a binary search and "did you mean" scores a bounded number of candidates
//! however many names a document declares.

use crate::model::diagnostic::nearest;

/// Up to this many names every one is scored; beyond it only the neighbours of the word.
const SCORE_ALL: usize = 256;
/// How many neighbours on each side of the word are scored, in each of the two orders.
const NEIGHBOURS: usize = 16;

/// A set of names, sorted forwards and by their reversed text.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Vocabulary {
    /// The names, sorted and deduplicated.
    sorted: Vec<String>,
    /// Each name reversed, sorted, with the name's index in `sorted`: neighbours here share
    /// an ending, so a typo near the start still finds its name.
    reversed: Vec<(String, usize)>,
}

impl Vocabulary {
    /// The vocabulary of `names` (duplicates allowed).
    pub(crate) fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Vocabulary {
        let mut sorted: Vec<String> = names.into_iter().map(str::to_string).collect();
        sorted.sort_unstable();
        sorted.dedup();
        let mut reversed = Vec::new();
        if sorted.len() > SCORE_ALL {
            reversed = sorted
                .iter()
                .enumerate()
                .map(|(i, name)| (name.chars().rev().collect::<String>(), i))
                .collect();
            reversed.sort_unstable();
        }
        Vocabulary { sorted, reversed }
    }

    /// How many distinct names there are.
    pub(crate) fn len(&self) -> usize {
        self.sorted.len()
    }

    /// Whether `name` is one of the names.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.sorted.binary_search_by(|n| n.as_str().cmp(name)).is_ok()
    }

    /// The names closest to `word`, best first (at most three), scoring at most
    /// `4 × NEIGHBOURS` candidates.
    pub(crate) fn nearest(&self, word: &str) -> Vec<String> {
        if self.sorted.len() <= SCORE_ALL {
            return nearest(word, self.sorted.iter().map(String::as_str));
        }
        let around = |len: usize, at: usize| at.saturating_sub(NEIGHBOURS)..(at + NEIGHBOURS).min(len);
        let at = self.sorted.partition_point(|n| n.as_str() < word);
        let reversed_word: String = word.chars().rev().collect();
        let at_reversed = self.reversed.partition_point(|(r, _)| *r < reversed_word);
        let mut candidates: Vec<usize> = around(self.sorted.len(), at)
            .chain(around(self.reversed.len(), at_reversed).map(|i| self.reversed[i].1))
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        nearest(word, candidates.into_iter().map(|i| self.sorted[i].as_str()))
    }

    /// The first `max` names, comma-separated, and how many more there are.
    pub(crate) fn listing(&self, max: usize) -> String {
        let shown: Vec<&str> = self.sorted.iter().take(max).map(String::as_str).collect();
        match self.sorted.len().saturating_sub(max) {
            0 => shown.join(", "),
            more => format!("{} and {more} more", shown.join(", ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_vocabularies_score_every_name() {
        let v = Vocabulary::new(["summarize", "ideas", "draft"]);
        assert!(v.contains("ideas") && !v.contains("idea"));
        assert_eq!(v.nearest("sumarize"), vec!["summarize"]);
        assert_eq!(v.listing(2), "draft, ideas and 1 more");
    }

    #[test]
    fn large_vocabularies_find_typos_at_either_end() {
        let names: Vec<String> = (0..20_000).map(|i| format!("step_{i}")).collect();
        let v = Vocabulary::new(names.iter().map(String::as_str));
        assert_eq!(v.nearest("step_1234x").first().map(String::as_str), Some("step_1234"));
        assert_eq!(v.nearest("stpe_1234").first().map(String::as_str), Some("step_1234"));
    }
}
