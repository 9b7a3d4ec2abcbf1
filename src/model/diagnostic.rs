//! Diagnostics as every layer produces them: a stable code, a severity, a byte range and a
//! message a user can act on. Editor and CLI types are made from these at the edges.

use crate::syntax::text::{OffsetBy, Span};

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Blocks running the workflow.
    Error,
    /// Worth fixing; the workflow may still run.
    Warning,
    /// Information.
    Info,
}

impl Severity {
    /// The lowercase name, as `check --format json` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// Every diagnostic code stepwise emits; the strings are stable API for users and tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// The YAML does not parse.
    YamlSyntax,
    /// A key that is not allowed at its level.
    UnknownKey,
    /// A value of the wrong type.
    WrongType,
    /// A required key is missing.
    MissingField,
    /// A value of the right type that is not allowed (bad step ID, version 2, …).
    InvalidValue,
    /// A key given twice in one mapping.
    DuplicateKey,
    /// A prompt or `for_each` expression that is not valid MiniJinja.
    TemplateSyntax,
    /// A provider ID that no built-in or configured provider has.
    UnknownProvider,
    /// A model the provider's catalog does not list (catalogs lag, so a warning).
    UnknownModel,
    /// A persona ID that is neither inline nor in the library.
    UnknownPersona,
    /// Two steps with one ID.
    DuplicateStepId,
    /// A template or `needs` names a missing step or input.
    UnknownReference,
    /// A template calls a filter, test or function the renderer does not have.
    UnknownFilter,
    /// Steps that depend on each other in a loop.
    DependencyCycle,
    /// A step resolves to no provider at all.
    NoProvider,
    /// The provider's key is not set.
    ProviderUnavailable,
    /// An API key pasted into the document.
    SecretInDocument,
    /// `stepwise.toml` or a persona file is broken.
    InvalidConfig,
    /// The step failed in its last run.
    StepFailed,
    /// The workspace is untrusted and its `stepwise.toml` asks what only trust allows.
    UntrustedWorkspace,
    /// A step whose estimated cost alone exceeds the workflow's `budget_usd`.
    OverBudget,
}

impl Code {
    /// The stable string form, e.g. `unknown-provider`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::YamlSyntax => "yaml-syntax",
            Code::UnknownKey => "unknown-key",
            Code::WrongType => "wrong-type",
            Code::MissingField => "missing-field",
            Code::InvalidValue => "invalid-value",
            Code::DuplicateKey => "duplicate-key",
            Code::TemplateSyntax => "template-syntax",
            Code::UnknownProvider => "unknown-provider",
            Code::UnknownModel => "unknown-model",
            Code::UnknownPersona => "unknown-persona",
            Code::DuplicateStepId => "duplicate-step-id",
            Code::UnknownReference => "unknown-reference",
            Code::UnknownFilter => "unknown-filter",
            Code::DependencyCycle => "dependency-cycle",
            Code::NoProvider => "no-provider",
            Code::ProviderUnavailable => "provider-unavailable",
            Code::SecretInDocument => "secret-in-document",
            Code::InvalidConfig => "invalid-config",
            Code::StepFailed => "step-failed",
            Code::UntrustedWorkspace => "untrusted-workspace",
            Code::OverBudget => "over-budget",
        }
    }

    /// Every code, in the order of the enum (SARIF rule indexes follow it).
    pub const ALL: [Code; 21] = [
        Code::YamlSyntax,
        Code::UnknownKey,
        Code::WrongType,
        Code::MissingField,
        Code::InvalidValue,
        Code::DuplicateKey,
        Code::TemplateSyntax,
        Code::UnknownProvider,
        Code::UnknownModel,
        Code::UnknownPersona,
        Code::DuplicateStepId,
        Code::UnknownReference,
        Code::UnknownFilter,
        Code::DependencyCycle,
        Code::NoProvider,
        Code::ProviderUnavailable,
        Code::SecretInDocument,
        Code::InvalidConfig,
        Code::StepFailed,
        Code::UntrustedWorkspace,
        Code::OverBudget,
    ];

    /// What the code means, in one sentence (CI tools show it as the rule's description).
    pub fn description(self) -> &'static str {
        match self {
            Code::YamlSyntax => "The document is not valid YAML.",
            Code::UnknownKey => "A key that is not allowed at its level of the document.",
            Code::WrongType => "A value of the wrong type, e.g. a list where a string is expected.",
            Code::MissingField => "A required key is missing.",
            Code::InvalidValue => "A value of the right type that is not allowed, e.g. a bad step ID.",
            Code::DuplicateKey => "A key given twice in one mapping.",
            Code::TemplateSyntax => "A prompt or `for_each` expression that is not valid MiniJinja.",
            Code::UnknownProvider => "A provider ID that no built-in or configured provider has.",
            Code::UnknownModel => "A model that the provider's catalog does not list.",
            Code::UnknownPersona => "A persona ID that is neither inline nor in the persona library.",
            Code::DuplicateStepId => "Two steps with the same ID.",
            Code::UnknownReference => "A template or `needs` names a step or input that does not exist.",
            Code::UnknownFilter => "A template calls a filter, test or function the renderer does not have.",
            Code::DependencyCycle => "Steps that depend on each other in a loop.",
            Code::NoProvider => "A step that resolves to no provider at all.",
            Code::ProviderUnavailable => "The provider's API key is not set in the environment.",
            Code::SecretInDocument => "An API key pasted into the document.",
            Code::InvalidConfig => "`stepwise.toml` or a persona file is broken.",
            Code::UntrustedWorkspace => {
                "The untrusted workspace's `stepwise.toml` asks for what only trust allows (a key to another host, a key variable, a runs folder outside)."
            }
            Code::StepFailed => "The step failed in its last run.",
            Code::OverBudget => "A step whose estimated cost alone exceeds the workflow's `budget_usd`.",
        }
    }

    /// How to fix a problem with this code (CI tools show it as the rule's help).
    pub fn help(self) -> &'static str {
        match self {
            Code::YamlSyntax => "Fix the YAML at the marked place; the other steps are still checked.",
            Code::UnknownKey => "Remove the key or correct its spelling; the message names the nearest allowed key.",
            Code::WrongType => "Write a value of the type the message names.",
            Code::MissingField => {
                "Add the missing key (a workflow needs `version`, `name` and `steps`; a step needs `id` and `prompt`)."
            }
            Code::InvalidValue => "Use an allowed value: step IDs match `^[a-z][a-z0-9_-]*$`, `version` is 1.",
            Code::DuplicateKey => "Keep one of the two keys; YAML loaders disagree on which one wins.",
            Code::TemplateSyntax => "Close the `{{ }}` or `{% %}` tag or fix the expression at the marked place.",
            Code::UnknownProvider => {
                "Use a built-in provider (anthropic, openai, google, ollama, …) or declare it under `[providers]` in `stepwise.toml`."
            }
            Code::UnknownModel => {
                "Check the model ID against `stepwise models`; a new model may simply be missing from the catalog."
            }
            Code::UnknownPersona => {
                "Declare the persona under `personas:` or add a file to the persona library folder."
            }
            Code::DuplicateStepId => "Give each step a unique `id`.",
            Code::UnknownReference => {
                "Reference an existing step (`steps.ID.output`) or input (`inputs.NAME`); write `steps[\"my-step\"]` for IDs with dashes."
            }
            Code::UnknownFilter => {
                "Use a filter the renderer has (e.g. `lines`, `upper`, `join`); the message names the nearest one."
            }
            Code::DependencyCycle => "Remove one of the `needs` or template references that close the loop.",
            Code::NoProvider => {
                "Set `provider` on the step, on the workflow, or as `default_provider` in `stepwise.toml`."
            }
            Code::ProviderUnavailable => {
                "Set the provider's API key variable where the run happens, or switch the step to another provider."
            }
            Code::SecretInDocument => {
                "Remove the key from the document, revoke it, and set it in the environment instead."
            }
            Code::InvalidConfig => "Fix the file named in the message; its problems are listed at their place.",
            Code::UntrustedWorkspace => {
                "Run `stepwise trust` in the workspace (or use the editor's \"Trust this workspace…\") once you have read its `stepwise.toml`."
            }
            Code::StepFailed => {
                "Read the failure in the run record, fix the cause or switch provider, and re-run the step."
            }
            Code::OverBudget => {
                "Lower the step's `max_tokens`, pick a cheaper model, or raise `budget_usd`: a run stops before sending it."
            }
        }
    }

    /// The severity this code always has.
    pub fn severity(self) -> Severity {
        match self {
            Code::UnknownModel | Code::ProviderUnavailable | Code::UntrustedWorkspace | Code::OverBudget => {
                Severity::Warning
            }
            _ => Severity::Error,
        }
    }
}

/// A place and a note that explains a diagnostic (e.g. the first definition of a duplicate).
#[derive(Debug, Clone, PartialEq)]
pub struct Related {
    /// Where.
    pub span: Span,
    /// What is there.
    pub message: String,
}

/// One problem in a document.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Stable code.
    pub code: Code,
    /// Severity (from the code unless overridden).
    pub severity: Severity,
    /// Where, in bytes.
    pub span: Span,
    /// What is wrong and what to do.
    pub message: String,
    /// Other places involved.
    pub related: Vec<Related>,
    /// Replacement candidates, nearest first, for quick fixes ("did you mean").
    pub suggestions: Vec<String>,
}

impl OffsetBy for Diagnostic {
    fn offset_by(&mut self, base: isize) {
        self.span.offset_by(base);
        for r in &mut self.related {
            r.span.offset_by(base);
        }
    }
}

impl Diagnostic {
    /// A diagnostic with the code's own severity.
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        let mut message = message.into();
        // `format!` leaves room to grow; a diagnostic is kept (cached per step) as it is.
        message.shrink_to_fit();
        Diagnostic {
            code,
            severity: code.severity(),
            span,
            message,
            related: Vec::new(),
            suggestions: Vec::new(),
        }
    }

    /// Adds a related place.
    pub fn with_related(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.related.push(Related {
            span,
            message: message.into(),
        });
        self
    }

    /// Adds replacement candidates.
    pub fn with_suggestions(mut self, suggestions: Vec<String>) -> Diagnostic {
        self.suggestions = suggestions;
        self
    }
}

/// The candidates closest to `word` (Jaro-Winkler, like cargo's "did you mean"), best first.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut scored: Vec<(f64, &str)> = candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.7)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    // Not `scored.into_iter()…collect()`: that reuses `scored`'s allocation in place, and each
    // diagnostic kept room for every candidate scored (29 MiB for 20,000 misspelt needs).
    let mut best = Vec::with_capacity(scored.len().min(3));
    best.extend(scored.iter().take(3).map(|(_, c)| c.to_string()));
    best
}

/// " (did you mean `x`?)" or nothing.
pub fn did_you_mean(suggestions: &[String]) -> String {
    match suggestions.first() {
        Some(s) => format!("; did you mean `{s}`?"),
        None => String::new(),
    }
}

/// A name that is none of the choices: says the nearest ("did you mean") and lists them all.
#[derive(Debug, Clone, PartialEq)]
pub struct Unknown {
    /// The name as given.
    pub name: String,
    /// The closest choices, best first.
    pub nearest: Vec<String>,
    /// Every valid name, in the order the workspace has them.
    pub choices: Vec<String>,
}

impl Unknown {
    /// `name`, not among `choices`.
    pub fn new<'a>(name: &str, choices: impl IntoIterator<Item = &'a str>) -> Unknown {
        let choices: Vec<String> = choices.into_iter().map(str::to_string).collect();
        Unknown {
            name: name.to_string(),
            nearest: nearest(name, choices.iter().map(String::as_str)),
            choices,
        }
    }
}

/// Lists at most this many choices; the rest are counted.
const MAX_LISTED_CHOICES: usize = 12;

impl std::fmt::Display for Unknown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}`{}{}",
            self.name,
            did_you_mean(&self.nearest),
            choice_list(&self.choices)
        )
    }
}

/// " (choices: `a`, `b`)", the first few of `choices` and a count of the rest.
pub fn choice_list(choices: &[String]) -> String {
    if choices.is_empty() {
        return " (there are none)".to_string();
    }
    let listed: Vec<String> = choices
        .iter()
        .take(MAX_LISTED_CHOICES)
        .map(|c| format!("`{c}`"))
        .collect();
    let rest = match choices.len().saturating_sub(MAX_LISTED_CHOICES) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    format!(" (choices: {}{rest})", listed.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_the_nearest_choice_and_lists_them_all() {
        let unknown = Unknown::new("anthropc", ["openai", "anthropic", "ollama"]);
        assert_eq!(
            unknown.to_string(),
            "`anthropc`; did you mean `anthropic`? (choices: `openai`, `anthropic`, `ollama`)"
        );
    }

    #[test]
    fn unknown_counts_the_choices_it_does_not_list() {
        let many: Vec<String> = (0..15).map(|i| format!("s{i}")).collect();
        let unknown = Unknown::new("zzzz", many.iter().map(String::as_str));
        assert!(unknown.to_string().ends_with("`s11` and 3 more)"), "{unknown}");
    }

    #[test]
    fn nearest_keeps_no_room_for_the_candidates_it_scored() {
        let many: Vec<String> = (0..64).map(|i| format!("step_{i}")).collect();
        let found = nearest("step_1x", many.iter().map(String::as_str));
        assert_eq!(found.len(), 3);
        assert_eq!(
            found.capacity(),
            3,
            "a diagnostic keeps its suggestions as long as its step"
        );
    }

    #[test]
    fn all_lists_every_code_once_in_declaration_order() {
        for (i, c) in Code::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i, "{c:?}");
        }
        assert_eq!(
            Code::ALL.last(),
            Some(&Code::OverBudget),
            "a new code goes into Code::ALL too"
        );
    }
}
