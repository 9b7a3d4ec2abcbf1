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
    /// Persona folders not read, and why (outside the workspace).
    pub refused_dirs: Vec<(PathBuf, String)>,
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

/// The largest persona file stepwise reads.
pub const MAX_PERSONA_BYTES: u64 = 1024 * 1024;

/// Why a persona file or folder is not read: never its content, only what it is.
fn refusal(root: &Path, path: &Path) -> Option<String> {
    let Ok(root) = std::fs::canonicalize(root) else {
        return Some("the workspace folder cannot be resolved".to_string());
    };
    let Ok(real) = std::fs::canonicalize(path) else {
        return Some("it cannot be resolved".to_string());
    };
    if !real.starts_with(&root) {
        return Some(format!("it resolves to {}, outside the workspace", real.display()));
    }
    match std::fs::metadata(&real) {
        Err(e) => Some(format!("cannot read it: {e}")),
        Ok(m) if m.is_dir() => None,
        Ok(m) if !m.is_file() => Some("it is not a regular file".to_string()),
        Ok(m) if m.len() > MAX_PERSONA_BYTES => Some(format!("it is larger than {MAX_PERSONA_BYTES} bytes")),
        Ok(_) => None,
    }
}

/// Reads at most one byte past the limit, so a file that grows meanwhile cannot exhaust memory.
fn read_limited(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_PERSONA_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_PERSONA_BYTES {
        return Err(std::io::Error::other(format!(
            "it is larger than {MAX_PERSONA_BYTES} bytes"
        )));
    }
    Ok(text)
}

/// A persona file stepwise refused to read: its ID, with an `invalid-config` diagnostic that
/// names the path and the reason, and no text.
fn refused(path: &Path, reason: &str) -> Option<LibraryPersona> {
    let mut lp = parse_persona_file(path, String::new())?;
    lp.diagnostics = vec![Diagnostic::new(
        Code::InvalidConfig,
        Span::empty(0),
        format!("not read: {reason}"),
    )];
    Some(lp)
}

impl PersonaLibrary {
    /// Loads every persona file in `dirs` (missing folders are simply empty). Only regular
    /// files inside `root` after symlinks are resolved, of at most [`MAX_PERSONA_BYTES`],
    /// are read; any other is kept as a refused entry, so references to it say why.
    pub fn load(root: &Path, dirs: &[PathBuf]) -> PersonaLibrary {
        let mut personas = BTreeMap::new();
        let mut refused_dirs = Vec::new();
        for dir in dirs {
            if !dir.exists() {
                continue;
            }
            if let Some(reason) = refusal(root, dir) {
                refused_dirs.push((dir.clone(), reason));
                continue;
            }
            let Ok(read) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut files: Vec<PathBuf> = read
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| is_persona_file(p))
                .collect();
            files.sort();
            for path in files {
                let loaded = match refusal(root, &path) {
                    Some(reason) => refused(&path, &reason),
                    None => match read_limited(&path) {
                        Ok(text) => parse_persona_file(&path, text),
                        Err(e) => refused(&path, &e.to_string()),
                    },
                };
                if let Some(lp) = loaded {
                    personas.entry(lp.persona.id.value.clone()).or_insert(lp);
                }
            }
        }
        PersonaLibrary { personas, refused_dirs }
    }

    /// Every persona ID, sorted.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.personas.keys().map(String::as_str)
    }

    /// The persona with this ID.
    pub fn get(&self, id: &str) -> Option<&LibraryPersona> {
        self.personas.get(id)
    }
}
