//! Everything outside the document that analysis needs: configuration, persona library and
//! provider catalog. Loaded with I/O here, then handed to pure analysis as an immutable value.

use std::path::Path;

use super::catalog::{Catalog, EnvLookup};
use super::config::{LoadedConfig, load_for_dir};
use super::health::Health;
use super::persona::{LibraryPersona, PersonaLibrary};
use super::workflow::{Persona, Workflow};

/// A workspace's configuration, personas and providers.
#[derive(Debug, Clone, PartialEq)]
pub struct Workspace {
    /// `stepwise.toml` and the root.
    pub config: LoadedConfig,
    /// Library personas.
    pub library: PersonaLibrary,
    /// Providers and models.
    pub catalog: Catalog,
}

/// A persona as a reference finds it: inline in the workflow or in the library.
#[derive(Debug, Clone, Copy)]
pub enum PersonaRef<'a> {
    /// Defined under `personas:` in the document.
    Inline(&'a Persona),
    /// A library file.
    Library(&'a LibraryPersona),
}

impl<'a> PersonaRef<'a> {
    /// The persona's definition.
    pub fn persona(self) -> &'a Persona {
        match self {
            PersonaRef::Inline(p) => p,
            PersonaRef::Library(lp) => &lp.persona,
        }
    }
}

impl Workspace {
    /// Loads the workspace governing a document in `dir`.
    pub fn load(dir: &Path, env: &dyn EnvLookup) -> Workspace {
        let config = load_for_dir(dir);
        Workspace::from_config(config, env)
    }

    /// Builds the rest of a workspace from its configuration.
    pub fn from_config(config: LoadedConfig, env: &dyn EnvLookup) -> Workspace {
        let library = PersonaLibrary::load(&config.persona_dirs());
        let health = Health::load(&config.runs_dir());
        let catalog = Catalog::build(&config.config, env, &health);
        Workspace {
            config,
            library,
            catalog,
        }
    }

    /// A workspace with defaults only: no config file, no library (for tests and stdin).
    pub fn detached(env: &dyn EnvLookup) -> Workspace {
        let config = LoadedConfig {
            root: std::path::PathBuf::from("."),
            path: None,
            config: Default::default(),
            error: None,
        };
        let catalog = Catalog::build(&config.config, env, &Health::default());
        Workspace {
            config,
            library: PersonaLibrary::default(),
            catalog,
        }
    }

    /// Finds persona `id` for `workflow`: inline definitions shadow the library.
    pub fn persona<'a>(&'a self, workflow: &'a Workflow, id: &str) -> Option<PersonaRef<'a>> {
        workflow
            .inline_persona(id)
            .map(PersonaRef::Inline)
            .or_else(|| self.library.get(id).map(PersonaRef::Library))
    }
}
