//! Everything outside the document that analysis needs: configuration, persona library and
//! provider catalog. Loaded with I/O here, then handed to pure analysis as an immutable value.

use std::path::Path;

use super::catalog::{Catalog, EnvLookup};
use super::config::{Config, LoadedConfig, load_layered_with};
use super::diagnostic::Diagnostic;
use super::health::Health;
use super::persona::{LibraryPersona, PersonaLibrary};
use super::trust::{self, USER_CONFIG_FILE, WorkspaceTrust, config_home};
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
    /// Whether the workspace is trusted, and what in `stepwise.toml` needs it.
    pub trust: WorkspaceTrust,
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
        Workspace::load_trusting(dir, env, false)
    }

    /// Loads the workspace governing `dir`; `process_trust` trusts it for this process
    /// (`--trust-workspace`, the editor's Workspace Trust).
    pub fn load_trusting(dir: &Path, env: &dyn EnvLookup, process_trust: bool) -> Workspace {
        Workspace::from_config_trusting(Workspace::config_for(dir, env), env, process_trust)
    }

    /// Loads the workspace governing `dir` as [`Workspace::load_trusting`] does, reading a
    /// `stepwise.toml` the editor has open from `open` (its unsaved text).
    pub fn load_open(
        dir: &Path,
        env: &dyn EnvLookup,
        process_trust: bool,
        open: &dyn Fn(&Path) -> Option<String>,
    ) -> Workspace {
        Workspace::from_config_trusting(Workspace::config_with(dir, env, open), env, process_trust)
    }

    /// The configuration governing `dir`: its `stepwise.toml` over the user's config file.
    pub fn config_for(dir: &Path, env: &dyn EnvLookup) -> LoadedConfig {
        Workspace::config_with(dir, env, &|_| None)
    }

    /// [`Workspace::config_for`], reading a `stepwise.toml` the editor has open from `open`.
    pub fn config_with(dir: &Path, env: &dyn EnvLookup, open: &dyn Fn(&Path) -> Option<String>) -> LoadedConfig {
        let user = config_home(env).map(|d| d.join(USER_CONFIG_FILE));
        load_layered_with(dir, user.as_deref(), open)
    }

    /// Builds the rest of a workspace from its configuration.
    pub fn from_config(config: LoadedConfig, env: &dyn EnvLookup) -> Workspace {
        Workspace::from_config_trusting(config, env, false)
    }

    /// Builds the rest of a workspace; what needs trust is blocked unless it is trusted.
    pub fn from_config_trusting(mut config: LoadedConfig, env: &dyn EnvLookup, process_trust: bool) -> Workspace {
        let baseline = Catalog::build(&config.baseline, env, &Health::default());
        let unchecked = Catalog::build(&config.config, env, &Health::default());
        let needs = trust::assess(&config, &baseline, &unchecked);
        let trust = trust::decide(&config, needs, env, process_trust);
        let health = if trust.blocks_runs_dir() {
            config.config.runs_dir = Config::default().runs_dir;
            Health::default()
        } else {
            Health::load(&config.runs_dir())
        };
        let library = PersonaLibrary::load(&config.root, &config.persona_dirs());
        let mut catalog = Catalog::build(&config.config, env, &health);
        catalog.restrict(|id| trust.blocks_provider(id));
        Workspace {
            config,
            library,
            catalog,
            trust,
        }
    }

    /// A workspace with defaults only: no config file, no library (for tests and stdin).
    pub fn detached(env: &dyn EnvLookup) -> Workspace {
        let config = LoadedConfig {
            root: std::path::PathBuf::from("."),
            path: None,
            config: Default::default(),
            error: None,
            diagnostics: Vec::new(),
            text: None,
            baseline: Default::default(),
        };
        let catalog = Catalog::build(&config.config, env, &Health::default());
        Workspace {
            config,
            library: PersonaLibrary::default(),
            catalog,
            trust: WorkspaceTrust::default(),
        }
    }

    /// What is wrong in the workspace's `stepwise.toml`, in the order of the file: its own
    /// problems and what it asks that needs trust.
    pub fn config_file_diagnostics(&self) -> Vec<Diagnostic> {
        let mut all = self.config.diagnostics.clone();
        all.extend(self.trust.config_diagnostics());
        all.sort_by_key(|d| (d.span.start, d.span.end));
        all
    }

    /// Finds persona `id` for `workflow`: inline definitions shadow the library.
    pub fn persona<'a>(&'a self, workflow: &'a Workflow, id: &str) -> Option<PersonaRef<'a>> {
        workflow
            .inline_persona(id)
            .map(PersonaRef::Inline)
            .or_else(|| self.library.get(id).map(PersonaRef::Library))
    }
}
