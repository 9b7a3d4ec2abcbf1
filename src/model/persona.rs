//! The persona library: one persona per `ID.yaml` file in the configured folders.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::diagnostic::{Code, Diagnostic};
use super::workflow::{Persona, PersonaOrigin, Spanned, lower_persona};
use crate::syntax::text::Span;
use crate::syntax::yaml;

/// A persona file, with whatever is wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub struct LibraryPersona {
    /// The lowered persona (fields may be missing if the file is broken).
    pub persona: Persona,
    /// The file's path.
    pub path: PathBuf,
    /// The file's text, for spans in its diagnostics.
    pub text: String,
    /// Problems in the file.
    pub diagnostics: Vec<Diagnostic>,
}

/// Every library persona of a workspace, by ID; the first folder wins on duplicates.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PersonaLibrary {
    /// Personas by ID.
    pub personas: BTreeMap<String, LibraryPersona>,
}

/// Whether `path` looks like a persona file (`*.yaml` / `*.yml`).
pub fn is_persona_file(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

/// Parses one persona file's text.
pub fn parse_persona_file(path: &Path, text: String) -> Option<LibraryPersona> {
    let id = path.file_stem()?.to_str()?.to_string();
    let parsed = yaml::parse(&text);
    let mut diagnostics = Vec::new();
    if let Some(err) = &parsed.error {
        diagnostics.push(Diagnostic::new(Code::YamlSyntax, err.span, err.message.clone()));
    }
    let id = Spanned {
        value: id,
        span: Span::empty(0),
    };
    let origin = PersonaOrigin::File(path.to_path_buf());
    let (persona, lowered) = match &parsed.root {
        Some(root) => lower_persona(&text, id, root, origin),
        None => {
            let persona = Persona {
                id,
                name: None,
                description: None,
                system: None,
                params: Default::default(),
                origin,
                span: Span::empty(0),
            };
            let missing = Diagnostic::new(
                Code::MissingField,
                Span::empty(0),
                "empty persona file: it needs `name` and `system`",
            );
            (persona, vec![missing])
        }
    };
    diagnostics.extend(lowered);
    Some(LibraryPersona {
        persona,
        path: path.to_path_buf(),
        text,
        diagnostics,
    })
}

impl PersonaLibrary {
    /// Loads every persona file in `dirs` (missing folders are simply empty).
    pub fn load(dirs: &[PathBuf]) -> PersonaLibrary {
        let mut personas = BTreeMap::new();
        for dir in dirs {
            let Ok(read) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut files: Vec<PathBuf> = read
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| is_persona_file(p))
                .collect();
            files.sort();
            for path in files {
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue;
                };
                if let Some(lp) = parse_persona_file(&path, text) {
                    personas.entry(lp.persona.id.value.clone()).or_insert(lp);
                }
            }
        }
        PersonaLibrary { personas }
    }

    /// The persona with this ID.
    pub fn get(&self, id: &str) -> Option<&LibraryPersona> {
        self.personas.get(id)
    }
}
