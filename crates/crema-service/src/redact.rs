//! Server paths out of messages that leave the machine.
//!
//! Engine errors name the files they concern (`/srv/crema/sources/job_…/clip.mov:
//! encode failed: …`), which is right for the log and the desktop app but
//! leaks the server's layout to network clients (README, "crema serve":
//! internal details go only to the log). [`paths`] rewrites a message so
//! that every known server path becomes what the client already knows: a
//! file by its name, a folder's contents relative to it.

use std::path::Path;

/// `text` with each of `files` replaced by its file name and each of
/// `folders` (with its trailing `/`) removed, longest first, so that
/// `/data/outputs/job_1/720p/seg_001.m4s` under the folder
/// `/data/outputs/job_1` reads `720p/seg_001.m4s`. Paths not listed are left
/// as they are (the caller lists every root it writes under).
pub fn paths(text: &str, files: &[&Path], folders: &[&Path]) -> String {
    let mut rules: Vec<(String, String)> = Vec::new();
    for f in files {
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        rules.push((f.display().to_string(), name));
    }
    for d in folders {
        let shown = d.display().to_string();
        let name = d.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        rules.push((format!("{}/", shown.trim_end_matches('/')), String::new()));
        rules.push((shown, name));
    }
    // Longest first: a file inside a listed folder keeps its relative part.
    rules.retain(|(from, _)| from.len() > 1);
    rules.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
    let mut out = text.to_string();
    for (from, to) in rules {
        out = out.replace(&from, &to);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_become_names_and_folders_relative() {
        let msg = "/d/sources/job_1/My Clip.mov: encode failed: cannot write /d/outputs/job_1/720p/seg.m4s";
        let out = paths(msg, &[Path::new("/d/sources/job_1/My Clip.mov")], &[Path::new("/d/outputs/job_1")]);
        assert_eq!(out, "My Clip.mov: encode failed: cannot write 720p/seg.m4s");
    }

    #[test]
    fn the_bare_folder_becomes_its_name_and_root_is_never_a_rule() {
        let out = paths("cannot create /d/outputs/job_1 on /", &[], &[Path::new("/d/outputs/job_1"), Path::new("/")]);
        assert_eq!(out, "cannot create job_1 on /");
    }
}
