//! Reading scenario files: each file on its own, so one malformed file is reported (file, line,
//! what is wrong) and the others still run.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tempfile::TempDir;

use super::builtin_clauses::builtin;
use super::model::{NetworkSource, Scenario, Step};
use super::pack::{CORE, PACK_FILE, PackFile, Packs, TypePack, UNDER_TEST};
use super::source::Source;
use crate::runtime::plugin_lookup::DEFAULT_PLUGIN_NAME;

/// A scenario file that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioFileError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for ScenarioFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}: {}", self.file.display(), self.message),
            (Some(l), None) => write!(f, "{}:{l}: {}", self.file.display(), self.message),
            _ => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for ScenarioFileError {}

/// Where scenarios and the files they refer to live.
#[derive(Debug, Clone)]
pub struct Library {
    pub scenarios_dir: PathBuf,
    pub fixtures_dir: PathBuf,
    /// Kept for its `Drop`: the folder the bundled files were written to, removed with the last
    /// clone.
    _extracted: Option<Arc<TempDir>>,
}

impl Library {
    /// The repository's own `scenarios/` and `fixtures/` as embedded in this binary when it was
    /// built ([`super::bundled`]), written out into a temporary folder.
    pub fn bundled() -> Result<Library, String> {
        let dir = super::bundled::extract().map_err(|e| {
            format!(
                "cannot write the bundled scenarios into {} (TMPDIR): {e}",
                std::env::temp_dir().display()
            )
        })?;
        Ok(Library {
            scenarios_dir: dir.path().join("scenarios"),
            fixtures_dir: dir.path().join("fixtures"),
            _extracted: Some(Arc::new(dir)),
        })
    }

    /// A scenarios folder given by the user; its fixtures are the sibling `fixtures/` folder.
    pub fn at(scenarios_dir: &Path) -> Library {
        let parent = scenarios_dir.parent().unwrap_or(Path::new("."));
        Library {
            scenarios_dir: scenarios_dir.to_path_buf(),
            fixtures_dir: parent.join("fixtures"),
            _extracted: None,
        }
    }

    pub fn states_dir(&self) -> PathBuf {
        self.fixtures_dir.join("states")
    }

    /// The packs of the scenarios folder: `core/` and a folder per plugin type, each with a
    /// pack.yaml ([`super::pack`]); a pack.yaml that cannot be used is an error of its own.
    pub fn packs(&self) -> (Packs, Vec<ScenarioFileError>) {
        let mut packs = Packs::default();
        let mut errors = Vec::new();
        for dir in self.pack_dirs() {
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let file = dir.join(PACK_FILE);
            let parsed = std::fs::read_to_string(&file)
                .map_err(|e| (None, format!("cannot read: {e}")))
                .and_then(|text| {
                    serde_yaml_ng::from_str::<PackFile>(&text)
                        .map_err(|e| (e.location().map(|l| l.line()), e.to_string()))
                });
            let checked = parsed.and_then(|pack| {
                if name == CORE {
                    match pack.r#type {
                        Some(t) => Err((
                            None,
                            format!(
                                "the core pack has no `type` (it runs for every type), not {t:?}"
                            ),
                        )),
                        None => Ok(None),
                    }
                } else {
                    TypePack::from_file(&name, pack)
                        .map(Some)
                        .map_err(|m| (None, m))
                }
            });
            match checked {
                Ok(None) => packs.core = Some(name),
                Ok(Some(pack)) => {
                    packs.types.insert(pack.plugin_type.clone(), pack);
                }
                Err((line, message)) => errors.push(ScenarioFileError {
                    file,
                    line,
                    column: None,
                    message,
                }),
            }
        }
        (packs, errors)
    }

    /// Folders of the scenarios folder holding a pack.yaml, sorted.
    fn pack_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(&self.scenarios_dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join(PACK_FILE).is_file())
            .collect();
        dirs.sort();
        dirs
    }

    /// Every scenario of every pack (and any file at the folder's top), as written: the good
    /// ones and, separately, the errors of the bad ones, packs' own files included.
    pub fn load_all(&self) -> (Vec<Scenario>, Vec<ScenarioFileError>) {
        let (_, mut bad) = self.packs();
        let mut good = vec![];
        let mut folders = vec![(self.scenarios_dir.clone(), String::new())];
        folders.extend(self.pack_dirs().into_iter().map(|d| {
            let name = d
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (d, name)
        }));
        for (folder, pack) in folders {
            let files = match yaml_files(&folder) {
                Ok(files) => files,
                Err(e) => {
                    bad.push(e);
                    continue;
                }
            };
            for file in files {
                match self.load(&file) {
                    Ok(mut s) => {
                        s.pack = pack.clone();
                        good.push(s)
                    }
                    Err(e) => bad.push(e),
                }
            }
        }
        let mut seen: std::collections::BTreeMap<String, PathBuf> = Default::default();
        good.retain(|s| match seen.get(&s.id) {
            Some(first) => {
                bad.push(ScenarioFileError {
                    file: s.path.clone(),
                    line: None,
                    column: None,
                    message: format!(
                        "scenario id {:?} is already {}: ids are file names and must be unique across packs",
                        s.id,
                        first.display()
                    ),
                });
                false
            }
            None => {
                seen.insert(s.id.clone(), s.path.clone());
                true
            }
        });
        (good, bad)
    }

    /// What runs for a plugin of `plugin_type`: the core pack and the type's own, made concrete
    /// for the type ([`TypePack::instantiate`]), plus any file at the folder's top. A folder
    /// without packs (a user's own scenarios) runs as it is, for any type.
    pub fn load_for(&self, plugin_type: &str) -> Result<Selection, String> {
        let (packs, _) = self.packs();
        // load_all reports an unusable pack.yaml among its errors already.
        let (scenarios, mut errors) = self.load_all();
        let pack = match packs.types.get(plugin_type) {
            Some(pack) => Some(pack.clone()),
            None if packs.types.is_empty() => None,
            None => return Err(unknown_type(plugin_type, &packs)),
        };
        let mut selected = Vec::new();
        for scenario in scenarios {
            let wanted = scenario.pack.is_empty()
                || packs.core.as_ref() == Some(&scenario.pack)
                || scenario.pack == plugin_type;
            if !wanted {
                continue;
            }
            let path = scenario.path.clone();
            let concrete = match &pack {
                Some(pack) => pack.instantiate(scenario, &self.fixtures_dir),
                None if names_under_test(&scenario, &self.fixtures_dir) => Err(format!(
                    "the network names type {UNDER_TEST:?}, which only a pack.yaml's `minimal` can stand for"
                )),
                None => Ok(scenario),
            };
            match concrete {
                Ok(s) => selected.push(s),
                Err(message) => errors.push(ScenarioFileError {
                    file: path,
                    line: None,
                    column: None,
                    message,
                }),
            }
        }
        Ok(Selection {
            pack,
            scenarios: selected,
            errors,
        })
    }

    pub fn load(&self, file: &Path) -> Result<Scenario, ScenarioFileError> {
        let error = |line, column, message: String| ScenarioFileError {
            file: file.to_path_buf(),
            line,
            column,
            message,
        };
        let text = std::fs::read_to_string(file)
            .map_err(|e| error(None, None, format!("cannot read: {e}")))?;
        let mut scenario: Scenario = serde_yaml_ng::from_str(&text).map_err(|e| {
            let loc = e.location();
            error(
                loc.as_ref().map(|l| l.line()),
                loc.as_ref().map(|l| l.column()),
                e.to_string(),
            )
        })?;
        scenario.id = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        scenario.path = file.to_path_buf();
        self.validate(&scenario)
            .map_err(|(needle, message)| error(line_of(&text, &needle), None, message))?;
        Ok(scenario)
    }

    /// Checks what YAML typing cannot: references between parts of the file and to fixtures.
    /// Returns the text to locate the problem by, and the message.
    fn validate(&self, s: &Scenario) -> Result<(), (String, String)> {
        if s.clauses.is_empty() {
            return Err((
                "clauses".into(),
                "`clauses` is empty: a scenario must name at least one clause it tests".into(),
            ));
        }
        if s.steps.is_empty() {
            return Err(("steps".into(), "`steps` is empty".into()));
        }
        for clause in &s.clauses {
            match Source::of_clause(&clause.id) {
                None => {
                    let prefixes: Vec<&str> = Source::PREFIXES.iter().map(|(p, _)| *p).collect();
                    return Err((
                        clause.id.clone(),
                        format!(
                            "clause {:?} has no source: its id must start with one of {}",
                            clause.id,
                            prefixes.join(", ")
                        ),
                    ));
                }
                Some(Source::Spec) if clause.section.as_deref().is_none_or(str::is_empty) => {
                    return Err((
                        clause.id.clone(),
                        format!(
                            "spec clause {:?} needs `section` (the CNI SPEC section it is from)",
                            clause.id
                        ),
                    ));
                }
                _ => {}
            }
        }
        if let Some(bad) = s.kept_by_design.iter().find(|k| {
            k.split_once('/')
                .is_none_or(|(netns, link)| netns.is_empty() || link.is_empty())
        }) {
            return Err((
                bad.clone(),
                format!("kept-by-design entry {bad:?} must be written netns/name"),
            ));
        }
        if let NetworkSource::File(name) = &s.network {
            let path = self.fixtures_dir.join(name);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                (
                    name.clone(),
                    format!("network file {} cannot be read: {e}", path.display()),
                )
            })?;
            serde_json::from_str::<serde_json::Value>(&text).map_err(|e| {
                (
                    name.clone(),
                    format!("network file {} is not valid JSON: {e}", path.display()),
                )
            })?;
        }
        for step in &s.steps {
            let Some(expect) = step.expect() else {
                continue;
            };
            for clause in expect
                .clause
                .as_deref()
                .into_iter()
                .chain(expect.clauses.named())
            {
                if !s.clauses.iter().any(|c| c.id == clause) && builtin(clause).is_none() {
                    return Err((
                        clause.to_string(),
                        format!(
                            "expectation names clause {clause:?}, which is neither in `clauses` \
                             nor one of the suite's own (cni-conform list shows them)"
                        ),
                    ));
                }
            }
            if let Some(state) = &expect.state
                && !state
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err((
                    state.clone(),
                    format!("state name {state:?} may only use letters, digits, - and _"),
                ));
            }
        }
        Ok(())
    }
}

impl Step {
    /// The expectation of a step that runs a plugin; tampering steps have none.
    pub fn expect(&self) -> Option<&super::model::Expect> {
        match self {
            Step::Add(i) | Step::Check(i) | Step::Del(i) | Step::Status(i) => Some(&i.expect),
            Step::Gc(g) => Some(&g.expect),
            Step::Exec(e) => Some(&e.expect),
            Step::Concurrent(c) => Some(&c.expect),
            Step::DeleteLink(_)
            | Step::SetMtu(_)
            | Step::SetDown(_)
            | Step::RemoveAddress(_)
            | Step::AddVlan(_)
            | Step::DeleteNetns(_) => None,
        }
    }
}

/// What runs for one plugin type ([`Library::load_for`]).
#[derive(Debug, Clone)]
pub struct Selection {
    /// The type's pack (none for a folder without packs).
    pub pack: Option<TypePack>,
    pub scenarios: Vec<Scenario>,
    pub errors: Vec<ScenarioFileError>,
}

/// The type a command tests (`run`, `fuzz`, `bench`): `--plugin-type` (`given`), else the
/// plugin's file name (as given, before symlinks are followed: a `vlan` that links to a
/// versioned file is still a vlan), else `vlan` for the default plugin. A type must have a pack
/// unless `packs` has none; the error lists the types.
pub fn resolve_type(
    given: Option<String>,
    plugin: Option<&Path>,
    packs: &Packs,
) -> Result<String, String> {
    let known = |name: &str| packs.types.is_empty() || packs.types.contains_key(name);
    match given {
        Some(name) if known(&name) => Ok(name),
        Some(name) => Err(format!("--plugin-type: {}", unknown_type(&name, packs))),
        None => {
            let from_file = plugin
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| DEFAULT_PLUGIN_NAME.to_string());
            if known(&from_file) {
                Ok(from_file)
            } else {
                Err(format!(
                    "--plugin-type is needed: the plugin's file name {from_file:?} is not a \
                     type with a pack; one of {}",
                    packs.type_names().join(", ")
                ))
            }
        }
    }
}

/// The bundled pack of the type [`resolve_type`] picks: what `fuzz` and `bench` build their
/// configurations and nodes from.
pub fn bundled_type_pack(given: Option<String>, plugin: Option<&Path>) -> Result<TypePack, String> {
    let library = Library::bundled()?;
    let (packs, errors) = library.packs();
    let name = resolve_type(given, plugin, &packs)?;
    packs.types.get(&name).cloned().ok_or_else(|| {
        let why: Vec<String> = errors.iter().map(ToString::to_string).collect();
        format!(
            "the bundled pack of {name:?} cannot be used: {}",
            why.join("; ")
        )
    })
}

/// The error for a type no pack is for, listing those there are.
pub fn unknown_type(plugin_type: &str, packs: &Packs) -> String {
    format!(
        "no pack for plugin type {plugin_type:?}; the types with a pack are {} (--plugin-type \
         picks one; cni-conform list shows the packs)",
        packs.type_names().join(", ")
    )
}

/// Whether the scenario's network has a plugin of type [`UNDER_TEST`] (a file that cannot be
/// read was reported when the scenario was loaded).
fn names_under_test(scenario: &Scenario, fixtures_dir: &Path) -> bool {
    let text = match &scenario.network {
        NetworkSource::Inline(v) => v.to_string(),
        NetworkSource::File(name) => {
            std::fs::read_to_string(fixtures_dir.join(name)).unwrap_or_default()
        }
    };
    text.contains(&format!("\"{UNDER_TEST}\""))
}

/// Every `*.yaml`/`*.yml` scenario file of `folder` (not its pack.yaml), sorted by name.
fn yaml_files(folder: &Path) -> Result<Vec<PathBuf>, ScenarioFileError> {
    let entries = std::fs::read_dir(folder).map_err(|e| ScenarioFileError {
        file: folder.to_path_buf(),
        line: None,
        column: None,
        message: format!("cannot read the scenarios folder: {e}"),
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .filter(|p| p.file_name().is_none_or(|n| n != PACK_FILE))
        .collect();
    files.sort();
    Ok(files)
}

/// 1-based line of the first occurrence of `needle`, to point at the offending value.
fn line_of(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads a one-step scenario whose clause list is `clauses` (YAML), from a temp library.
    fn load_with_clauses(clauses: &str) -> Result<Scenario, ScenarioFileError> {
        let dir = tempfile::tempdir().unwrap();
        let scenarios = dir.path().join("scenarios");
        std::fs::create_dir(&scenarios).unwrap();
        let file = scenarios.join("s.yaml");
        std::fs::write(
            &file,
            format!(
                "description: d\nclauses:\n{clauses}\nnetwork: {{cniVersion: 1.0.0, name: n, plugins: []}}\nsteps:\n  - add: {{}}\n"
            ),
        )
        .unwrap();
        Library::at(&scenarios).load(&file)
    }

    /// An unusable pack.yaml is one error of the selection, whatever type is selected.
    #[test]
    fn a_bad_pack_file_is_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        let scenarios = dir.path().join("scenarios");
        for (pack, text) in [
            (
                "vlan",
                "type: vlan\ndescription: d\nminimal: {plugin: {type: vlan}}\n",
            ),
            (
                "macvlan",
                "type: ipvlan\ndescription: d\nminimal: {plugin: {type: ipvlan}}\n",
            ),
        ] {
            std::fs::create_dir_all(scenarios.join(pack)).unwrap();
            std::fs::write(scenarios.join(pack).join(PACK_FILE), text).unwrap();
        }
        let selection = Library::at(&scenarios).load_for("vlan").unwrap();
        assert_eq!(selection.errors.len(), 1, "{:?}", selection.errors);
        assert!(
            selection.errors[0]
                .message
                .contains("differs from the folder's name"),
            "{:?}",
            selection.errors
        );
    }

    /// A stored state no step names is checked by nothing: it goes when its last step does.
    #[test]
    fn every_stored_state_is_named_by_a_step_and_every_named_one_is_stored() {
        let library = Library::bundled().unwrap();
        let (scenarios, errors) = library.load_all();
        assert!(errors.is_empty(), "{errors:?}");
        let named: std::collections::BTreeSet<String> = scenarios
            .iter()
            .flat_map(|s| &s.steps)
            .filter_map(|step| step.expect()?.state.clone())
            .collect();
        let stored: std::collections::BTreeSet<String> = std::fs::read_dir(library.states_dir())
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().into_string().unwrap();
                name.strip_suffix(".snap").map(str::to_string)
            })
            .collect();
        let unused: Vec<_> = stored.difference(&named).collect();
        let missing: Vec<_> = named.difference(&stored).collect();
        assert!(unused.is_empty(), "stored states no step names: {unused:?}");
        assert!(missing.is_empty(), "named states not stored: {missing:?}");
    }

    #[test]
    fn every_clause_has_a_source_and_spec_clauses_a_section() {
        let no_source = load_with_clauses("  - {id: mode.chained, level: MUST}").unwrap_err();
        assert_eq!(no_source.line, Some(3), "{no_source}");
        assert!(
            no_source
                .message
                .contains("must start with one of spec., suite., contract."),
            "{no_source}"
        );
        let no_section =
            load_with_clauses("  - {id: spec.del.idempotent, level: MUST}").unwrap_err();
        assert!(
            no_section.message.contains("needs `section`"),
            "{no_section}"
        );
        load_with_clauses(
            "  - {id: spec.del.idempotent, level: MUST, section: \"Section 2\"}\n  - {id: contract.x, level: SHOULD}",
        )
        .unwrap();
    }
}
