//! `--vmaf`: every rung of the ladder cases scored against the source with
//! `crema quality` (VMAF `vmaf_v0.6.1`, no NEG, every 5th frame), so that
//! the speed of cascaded scaling is read beside what it costs in quality.

use super::measure::shell_line;
use super::{CaseResult, Failure, fail};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Scored frame step (odd: an even one aliases with x264's mini-GOP pattern).
const SUBSAMPLE: &str = "5";

/// Largest VMAF a cascaded rung may lose against direct scaling (the issue's
/// bound: 0.2 per rung, on the 0..100 scale).
pub(super) const MAX_LOSS: f64 = 0.2;

/// The pooled VMAF mean of every rung of every ladder case in `results`
/// (cases 1, 2 and 6): `[{case, rung, vmaf}]`, rung as its height in pixels.
///
/// Errors: a `crema quality` run that fails or prints no result (exit code 1).
pub(super) fn score_ladders(exe: &Path, source: &Path, results: &[CaseResult]) -> Result<Vec<Value>, Failure> {
    let mut scores = Vec::new();
    for r in results.iter().filter(|r| matches!(r.id, 1 | 2 | 6)) {
        for (height, playlist) in &r.outcome.playlists {
            let joined = join_rung(playlist)?;
            let mut cmd = vec![exe.display().to_string(), "quality".into(), source.display().to_string()];
            cmd.push(joined.display().to_string());
            cmd.extend(["--json", "--no-neg", "--model", "vmaf_v0.6.1", "--subsample", SUBSAMPLE].map(String::from));
            eprintln!("scoring case {} {height}p...", r.id);
            let out = Command::new(&cmd[0])
                .args(&cmd[1..])
                .output()
                .map_err(|e| fail(1, format!("cannot run {}: {e}", cmd[0])))?;
            let result = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|v| v["event"] == "result")
                .ok_or_else(|| fail(1, format!("`{}` printed no result line", shell_line(&cmd))))?;
            let vmaf = result["vmaf"]["mean"].as_f64().ok_or_else(|| fail(1, "quality result without vmaf.mean"))?;
            scores.push(json!({ "case": r.id, "rung": height, "vmaf": vmaf }));
        }
    }
    Ok(scores)
}

/// Joins a fMP4 media playlist's init segment and media segments, in
/// playlist order, into `joined.mp4` beside it (one fragmented MP4: `crema
/// quality`, like every Crema input, takes no playlists) and returns its path.
///
/// Errors: an unreadable playlist or segment, or no `EXT-X-MAP` (exit code 1).
fn join_rung(playlist: &Path) -> Result<PathBuf, Failure> {
    let io = |p: &Path, e: std::io::Error| fail(1, format!("{}: {e}", p.display()));
    let dir = playlist.parent().unwrap_or(Path::new("."));
    let text = std::fs::read_to_string(playlist).map_err(|e| io(playlist, e))?;
    let init = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\"")?.split('"').next())
        .ok_or_else(|| fail(1, format!("{}: no EXT-X-MAP", playlist.display())))?;
    let segments = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'));
    let out = dir.join("joined.mp4");
    let mut file = std::fs::File::create(&out).map_err(|e| io(&out, e))?;
    for name in std::iter::once(init).chain(segments) {
        let part = dir.join(name);
        let mut src = std::fs::File::open(&part).map_err(|e| io(&part, e))?;
        std::io::copy(&mut src, &mut file).map_err(|e| io(&out, e))?;
    }
    Ok(out)
}

/// Prints the scores as one row per rung, with cascaded (case 1, else 2)
/// minus direct (case 6) and PASS when the loss is at most [`MAX_LOSS`].
pub(super) fn print(scores: &[Value]) {
    let get = |case: u64, rung: u64| {
        scores.iter().find(|s| s["case"] == case && s["rung"] == rung).and_then(|s| s["vmaf"].as_f64())
    };
    let mut rungs: Vec<u64> = scores.iter().filter_map(|s| s["rung"].as_u64()).collect();
    rungs.sort_unstable_by(|a, b| b.cmp(a));
    rungs.dedup();
    println!("VMAF per rung against the source (crema quality, vmaf_v0.6.1, every {SUBSAMPLE}th frame):");
    println!("{:<6} {:>8} {:>8} {:>8} {:>12}", "rung", "case 1", "case 2", "case 6", "cascade-6");
    let cell = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |x| format!("{x:.2}"));
    for h in rungs {
        let cascaded = get(1, h).or(get(2, h));
        let loss = cascaded.zip(get(6, h)).map(|(c, d)| c - d);
        println!(
            "{:<6} {:>8} {:>8} {:>8} {:>12}",
            format!("{h}p"),
            cell(get(1, h)),
            cell(get(2, h)),
            cell(get(6, h)),
            loss.map_or_else(
                || "-".to_string(),
                |l| format!("{l:+.2} {}", if l >= -MAX_LOSS { "PASS" } else { "MISS" })
            )
        );
    }
    println!("(PASS: the cascaded rung loses at most {MAX_LOSS} VMAF against direct scaling)");
}
