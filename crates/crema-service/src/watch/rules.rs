//! Rule validation and the include/exclude filter.

use super::model::{
    DEFAULT_INCLUDE, DEFAULT_SETTLE_SECONDS, FailureAction, SuccessAction, ValidationContext, WatchRuleSpec,
};
use crate::error::{Result, ServiceError};
use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use std::path::{Path, PathBuf};

/// Default output folder name inside the watched folder.
pub(crate) const DEFAULT_OUTPUT: &str = "crema-encoded";
/// Default done folder name.
pub(crate) const DEFAULT_DONE: &str = "crema-done";
/// Default failed folder name.
pub(crate) const DEFAULT_FAILED: &str = "crema-failed";

fn glob(pattern: &str) -> std::result::Result<Glob, globset::Error> {
    // `*` crosses `/` (so `*.mov` matches at any depth); case-insensitive
    // (camera cards write `C0001.MP4`).
    GlobBuilder::new(pattern).case_insensitive(true).literal_separator(false).build()
}

fn globset(patterns: &[String], field: &str) -> Result<GlobSet> {
    let mut b = GlobSetBuilder::new();
    for (i, p) in patterns.iter().enumerate() {
        b.add(glob(p).map_err(|e| ServiceError::validation(format!("{field}[{i}]"), format!("{p:?}: {e}")))?);
    }
    b.build().map_err(|e| ServiceError::validation(field, e.to_string()))
}

/// The compiled include/exclude globs of a rule.
pub(crate) struct Filter {
    include: GlobSet,
    exclude: GlobSet,
}

impl Filter {
    /// Compiles the rule's globs (already validated).
    pub(crate) fn new(spec: &WatchRuleSpec) -> Result<Filter> {
        let include = if spec.include.is_empty() {
            let defaults: Vec<String> = DEFAULT_INCLUDE.iter().map(|s| s.to_string()).collect();
            globset(&defaults, "include")?
        } else {
            globset(&spec.include, "include")?
        };
        Ok(Filter { include, exclude: globset(&spec.exclude, "exclude")? })
    }

    /// Whether a path relative to the folder (file or folder) is excluded.
    pub(crate) fn excluded(&self, rel: &Path) -> bool {
        self.exclude.is_match(rel)
    }

    /// Whether a file (relative path) matches the include globs.
    pub(crate) fn included(&self, rel: &Path) -> bool {
        self.include.is_match(rel)
    }
}

fn is_inside(path: &Path, root: &Path) -> bool {
    path.starts_with(root)
}

/// Lexical normalization: drops `.`, resolves `..` against earlier parts.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// For network callers: `path` must be under one of `roots`.
fn check_roots(path: &Path, roots: Option<&[PathBuf]>, field: &str) -> Result<()> {
    let Some(roots) = roots else { return Ok(()) };
    if roots.iter().any(|r| normalize(path).starts_with(r)) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(format!("{field}: {} is outside the server's source roots", path.display())))
    }
}

/// Checks an absolute folder the rule writes into: creates it if needed,
/// checks it is writable (a probe file is created and removed), returns it canonical.
fn writable_dir(dir: &Path, field: &str, roots: Option<&[PathBuf]>) -> Result<PathBuf> {
    if !dir.is_absolute() {
        return Err(ServiceError::validation(field, format!("{} is not an absolute path", dir.display())));
    }
    check_roots(dir, roots, field)?;
    std::fs::create_dir_all(dir)
        .map_err(|e| ServiceError::validation(field, format!("{}: cannot create the folder: {e}", dir.display())))?;
    let dir = std::fs::canonicalize(dir)
        .map_err(|e| ServiceError::validation(field, format!("{}: cannot read: {e}", dir.display())))?;
    if !dir.is_dir() {
        return Err(ServiceError::validation(field, format!("{} is not a folder", dir.display())));
    }
    check_roots(&dir, roots, field)?;
    let probe = dir.join(format!(".crema-write-test-{}", crate::shared::new_id("w")));
    std::fs::write(&probe, b"")
        .map_err(|e| ServiceError::validation(field, format!("{}: not writable: {e}", dir.display())))?;
    let _ = std::fs::remove_file(&probe);
    Ok(dir)
}

/// A folder the rule writes into, checked against the watched tree: the
/// folder itself is refused; inside a recursive tree it needs an exclude glob
/// (a default folder gets one added).
fn own_dir(
    spec: &mut WatchRuleSpec,
    filter_exclude: &GlobSet,
    given: Option<PathBuf>,
    default_name: &str,
    field: &str,
    roots: Option<&[PathBuf]>,
) -> Result<PathBuf> {
    let is_default = given.is_none();
    let dir = writable_dir(&given.unwrap_or_else(|| spec.folder.join(default_name)), field, roots)?;
    if dir == spec.folder {
        return Err(ServiceError::validation(field, "must not be the watched folder itself"));
    }
    if spec.folder.starts_with(&dir) {
        return Err(ServiceError::validation(field, "must not contain the watched folder"));
    }
    if spec.recursive && is_inside(&dir, &spec.folder) {
        let rel = dir.strip_prefix(&spec.folder).unwrap_or(&dir).to_path_buf();
        let pattern = format!("{}/**", rel.display());
        if is_default {
            if !spec.exclude.contains(&pattern) {
                spec.exclude.push(pattern);
            }
        } else if !filter_exclude.is_match(rel.join("x.mov")) {
            return Err(ServiceError::validation(
                field,
                format!(
                    "{} is inside the watched tree; add an exclude glob covering it (e.g. {pattern:?}) or choose a \
                     folder outside {}",
                    dir.display(),
                    spec.folder.display()
                ),
            ));
        }
    }
    Ok(dir)
}

/// Validates a rule and fills in its defaults (blocking: touches the file system).
pub(crate) fn validate(mut spec: WatchRuleSpec, ctx: &ValidationContext) -> Result<WatchRuleSpec> {
    if spec.output.dir.is_some() {
        return Err(ServiceError::validation("output.dir", "a watch rule places its outputs in output_dir; use that"));
    }
    let folder = &spec.folder;
    if !folder.is_absolute() {
        return Err(ServiceError::validation("folder", format!("{} is not an absolute path", folder.display())));
    }
    let roots = ctx.roots.as_deref();
    check_roots(folder, roots, "folder")?;
    let folder = std::fs::canonicalize(folder)
        .map_err(|e| ServiceError::validation("folder", format!("{}: {e}", folder.display())))?;
    check_roots(&folder, roots, "folder")?;
    if !folder.is_dir() {
        return Err(ServiceError::validation("folder", format!("{} is not a folder", folder.display())));
    }
    std::fs::read_dir(&folder)
        .map_err(|e| ServiceError::validation("folder", format!("{}: not readable: {e}", folder.display())))?;
    for r in &ctx.reserved {
        if folder.starts_with(r) || (spec.recursive && r.starts_with(&folder)) {
            return Err(ServiceError::validation(
                "folder",
                format!("{} overlaps the service's own data or output folder {}", folder.display(), r.display()),
            ));
        }
    }
    spec.folder = folder;
    if ctx.profiles.get(&spec.profile).is_err() {
        let known: Vec<&str> = ctx.profiles.iter().map(|p| p.id.as_str()).collect();
        return Err(ServiceError::validation(
            "profile",
            format!("unknown profile {:?}; known profiles: {}", spec.profile, known.join(", ")),
        ));
    }
    crate::jobs::validate_output(&spec.output)?;
    globset(&spec.include, "include")?;
    let user_exclude = globset(&spec.exclude, "exclude")?;
    let settle = spec.settle_seconds.unwrap_or(DEFAULT_SETTLE_SECONDS);
    if !(settle.is_finite() && (0.1..=3600.0).contains(&settle)) {
        return Err(ServiceError::validation("settle_seconds", format!("must be 0.1..3600 seconds, got {settle}")));
    }
    spec.settle_seconds = Some(settle);
    if let Some(p) = spec.poll_seconds
        && !(p.is_finite() && (0.2..=3600.0).contains(&p))
    {
        return Err(ServiceError::validation("poll_seconds", format!("must be 0.2..3600 seconds, got {p}")));
    }
    let given = spec.output_dir.clone();
    let out = own_dir(&mut spec, &user_exclude, given, DEFAULT_OUTPUT, "output_dir", roots)?;
    spec.output_dir = Some(out);
    spec.on_success = match spec.on_success.clone() {
        SuccessAction::Move { dir } => SuccessAction::Move {
            dir: Some(own_dir(&mut spec, &user_exclude, dir, DEFAULT_DONE, "on_success.dir", roots)?),
        },
        other => other,
    };
    spec.on_failure = match spec.on_failure.clone() {
        FailureAction::Move { dir } => FailureAction::Move {
            dir: Some(own_dir(&mut spec, &user_exclude, dir, DEFAULT_FAILED, "on_failure.dir", roots)?),
        },
        other => other,
    };
    // The auto-added excludes compile too.
    globset(&spec.exclude, "exclude")?;
    Ok(spec)
}
