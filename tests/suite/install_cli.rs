//! What the packages rely on (README "Install"): `crema --version` names the
//! build and the linked libraries, and `crema keys import` takes a key from a
//! file or standard input, as the container entrypoint does with a mounted
//! secret (`CREMA_API_KEY_FILE`). The real binary on a real SQLite store.

use crate::common::crema_bin;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn crema(args: &[&str], data: &Path, stdin: Option<&str>) -> Output {
    let mut child = Command::new(crema_bin())
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start crema");
    let mut pipe = child.stdin.take().expect("stdin");
    if let Some(s) = stdin {
        pipe.write_all(s.as_bytes()).expect("write stdin");
    }
    drop(pipe);
    child.wait_with_output().expect("crema")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn version_names_commit_ffmpeg_x264_x265() {
    let out = Command::new(crema_bin()).arg("--version").output().expect("crema --version");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v = text(&out.stdout);
    let lines: Vec<&str> = v.lines().collect();
    assert!(lines[0].starts_with(&format!("crema {} (commit ", env!("CARGO_PKG_VERSION"))), "{v}");
    assert!(lines.iter().any(|l| l.starts_with("FFmpeg ") && l.contains("libavcodec ")), "{v}");
    assert!(lines.iter().any(|l| l.starts_with("x264 core ")), "{v}");
    assert!(lines.iter().any(|l| l.starts_with("x265 ")), "{v}");
}

#[test]
fn keys_import_from_a_file_and_stdin_is_idempotent_and_keeps_revocations() {
    let made_in = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    // A key made on another machine, as a deployment's secret holds it.
    let created = crema(&["keys", "create", "elsewhere"], made_in.path(), None);
    assert!(created.status.success(), "{}", text(&created.stderr));
    let key = text(&created.stdout).trim().to_string();
    let secret = data.path().join("secret");
    std::fs::write(&secret, format!("{key}\n")).unwrap();
    let file = secret.to_str().unwrap();

    let first = crema(&["keys", "import", "worker", "--key-file", file], data.path(), None);
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(text(&first.stderr).contains("imported for \"worker\""), "{}", text(&first.stderr));
    // Every container start imports again: nothing changes.
    let again = crema(&["keys", "import", "worker", "--key-file", "-"], data.path(), Some(&key));
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(text(&again.stderr).contains("already present"), "{}", text(&again.stderr));
    for o in [&first, &again] {
        assert!(!text(&o.stdout).contains(&key[9..]) && !text(&o.stderr).contains(&key[9..]), "the key was printed");
    }
    let list = crema(&["keys", "list", "--json"], data.path(), None);
    let listed: serde_json::Value = serde_json::from_slice(&list.stdout).expect("keys list --json");
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["name"], "worker");
    assert_eq!(listed[0]["prefix"], key[..17]);

    // Malformed: exit 1, and the message does not repeat what was given.
    let bad = crema(&["keys", "import", "worker", "--key-file", "-"], data.path(), Some("crema_sk_not-a-key-at-all"));
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("64 lower-case hex digits"), "{}", text(&bad.stderr));
    assert!(!text(&bad.stderr).contains("not-a-key-at-all"), "{}", text(&bad.stderr));
    let missing = crema(&["keys", "import", "w", "--key-file", "/nonexistent/secret"], data.path(), None);
    assert_eq!(missing.status.code(), Some(1), "{}", text(&missing.stderr));

    // Revoked, then imported again: still refused.
    let revoked = crema(&["keys", "revoke", &key[..17]], data.path(), None);
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));
    let back = crema(&["keys", "import", "worker", "--key-file", file], data.path(), None);
    assert_eq!(back.status.code(), Some(1));
    assert!(text(&back.stderr).contains("was revoked"), "{}", text(&back.stderr));
}
