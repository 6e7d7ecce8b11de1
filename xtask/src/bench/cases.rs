//! The six cases: Crema's runs (`crema encode --json`) and the `ffmpeg`
//! command lines built from what Crema reported it did.

use super::measure::{Usage, count_frames, fresh_dir, run_measured, shell_line, tree_size};
use super::{BenchArgs, EncoderSetup, Failure, Outcome, RUNGS, Rendition, SEGMENT_SECONDS, fail};
use crema_engine::plan;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Case 1: `crema encode --hls --hls-codec` (`--ladder-codec`). Returns the usage, outcome and rungs as reported.
pub(super) fn crema_ladder(
    exe: &Path,
    args: &BenchArgs,
    dir: &Path,
) -> Result<(Usage, Outcome, Vec<Rendition>), Failure> {
    fresh_dir(dir)?;
    let seg = SEGMENT_SECONDS.to_string();
    let codec = args.ladder_codec.as_str();
    let extra = ["--hls", "--renditions", RUNGS, "--hls-codec", codec, "--segment-seconds", seg.as_str()];
    let (usage, result, cmd) = run_crema(exe, args, dir, &extra)?;
    let hls = outputs(&result)
        .into_iter()
        .find(|o| o["kind"] == "hls")
        .ok_or_else(|| fail(1, "Crema's result has no hls output"))?;
    let mut rungs = Vec::new();
    let mut frames = Vec::new();
    let mut playlists = Vec::new();
    for r in hls["renditions"].as_array().into_iter().flatten() {
        let rendition = rendition_of(r, &r["encoder"])?;
        expect_software(&rendition.encoder, if codec == "hevc" { "libx265" } else { "libx264" })?;
        let playlist = PathBuf::from(r["playlist"].as_str().unwrap_or_default());
        frames.push(count_frames(&args.ffprobe, &playlist));
        playlists.push((rendition.height, playlist));
        rungs.push(rendition);
    }
    if rungs.is_empty() {
        return Err(fail(1, "Crema's HLS result lists no renditions"));
    }
    Ok((usage, Outcome { bytes: tree_size(dir), frames, commands: vec![cmd], playlists }, rungs))
}

/// Case 4: `crema encode` to one MP4; case 7 with `--chunk-workers` (`chunk_workers`).
pub(super) fn crema_file(
    exe: &Path,
    args: &BenchArgs,
    dir: &Path,
    chunk_workers: Option<u32>,
) -> Result<(Usage, Outcome, Rendition), Failure> {
    fresh_dir(dir)?;
    let workers = chunk_workers.unwrap_or(1).to_string();
    let (usage, result, cmd) = run_crema(exe, args, dir, &["--container", "mp4", "--chunk-workers", &workers])?;
    let file = outputs(&result)
        .into_iter()
        .find(|o| o["kind"] == "file")
        .ok_or_else(|| fail(1, "Crema's result has no file output"))?;
    let setup = rendition_of(&file, &file["encoder"])?;
    expect_software(&setup.encoder, "libx26")?;
    let frames = vec![count_frames(&args.ffprobe, Path::new(file["path"].as_str().unwrap_or_default()))];
    Ok((usage, Outcome { bytes: tree_size(dir), frames, commands: vec![cmd], playlists: Vec::new() }, setup))
}

/// Cases 2 and 6: one `ffmpeg`, one decode, `split` to every rung, each
/// rung scaled from the top rung's converted frames (2, as Crema does) or
/// from the source (6).
pub(super) fn ffmpeg_split(
    args: &BenchArgs,
    common: &[String],
    rungs: &[Rendition],
    dir: &Path,
    scaling: plan::Scaling,
) -> Result<(Usage, Outcome), Failure> {
    fresh_dir(dir)?;
    let sinks: Vec<(u32, u32, &str)> = rungs.iter().map(|r| (r.width, r.height, r.pix_fmt())).collect();
    let mut cmd = ffmpeg_head(args);
    cmd.extend(["-filter_complex".into(), ffmpeg_graph(common, &sinks, scaling)]);
    for (i, r) in rungs.iter().enumerate() {
        cmd.extend(["-map".into(), format!("[out{i}]")]);
        cmd.extend(encoder_args(&r.encoder));
        cmd.extend(hls_args(&dir.join(format!("{}p", r.height)))?);
    }
    let usage = run_measured(&cmd, dir, "ffmpeg")?;
    let playlists: Vec<(u32, PathBuf)> =
        rungs.iter().map(|r| (r.height, dir.join(format!("{}p/index.m3u8", r.height)))).collect();
    let frames = playlists.iter().map(|(_, p)| count_frames(&args.ffprobe, p)).collect();
    Ok((usage, Outcome { bytes: tree_size(dir), frames, commands: vec![cmd], playlists }))
}

/// Case 3: one `ffmpeg` per rung, one after the other.
pub(super) fn ffmpeg_per_rung(
    args: &BenchArgs,
    common: &[String],
    rungs: &[Rendition],
    dir: &Path,
) -> Result<(Usage, Outcome), Failure> {
    fresh_dir(dir)?;
    let mut total = Usage::default();
    let mut commands = Vec::new();
    let mut frames = Vec::new();
    let mut playlists = Vec::new();
    for r in rungs {
        let mut cmd = ffmpeg_head(args);
        cmd.extend([
            "-filter_complex".into(),
            ffmpeg_graph(common, &[(r.width, r.height, r.pix_fmt())], plan::Scaling::Direct),
        ]);
        cmd.extend(["-map".into(), "[out0]".into()]);
        cmd.extend(encoder_args(&r.encoder));
        let rung_dir = dir.join(format!("{}p", r.height));
        cmd.extend(hls_args(&rung_dir)?);
        total = total.then(run_measured(&cmd, dir, "ffmpeg")?);
        frames.push(count_frames(&args.ffprobe, &rung_dir.join("index.m3u8")));
        playlists.push((r.height, rung_dir.join("index.m3u8")));
        commands.push(cmd);
    }
    Ok((total, Outcome { bytes: tree_size(dir), frames, commands, playlists }))
}

/// Case 5: one `ffmpeg` to one MP4.
pub(super) fn ffmpeg_file(
    args: &BenchArgs,
    common: &[String],
    setup: &Rendition,
    dir: &Path,
) -> Result<(Usage, Outcome), Failure> {
    fresh_dir(dir)?;
    let out = dir.join("ffmpeg.mp4");
    let mut cmd = ffmpeg_head(args);
    cmd.extend([
        "-filter_complex".into(),
        ffmpeg_graph(common, &[(setup.width, setup.height, setup.pix_fmt())], plan::Scaling::Direct),
    ]);
    cmd.extend(["-map".into(), "[out0]".into()]);
    cmd.extend(encoder_args(&setup.encoder));
    // Crema writes its MP4s with the index in front, as here.
    cmd.extend(["-movflags".into(), "+faststart".into(), "-f".into(), "mp4".into(), path_arg(&out)]);
    let usage = run_measured(&cmd, dir, "ffmpeg")?;
    let frames = vec![count_frames(&args.ffprobe, &out)];
    Ok((usage, Outcome { bytes: tree_size(dir), frames, commands: vec![cmd], playlists: Vec::new() }))
}

// ---------------------------------------------------------------------------
// Command lines
// ---------------------------------------------------------------------------

/// Runs `crema encode` with `extra` into `dir`; returns its usage and `--json` result line.
fn run_crema(exe: &Path, args: &BenchArgs, dir: &Path, extra: &[&str]) -> Result<(Usage, Value, Vec<String>), Failure> {
    let mut cmd: Vec<String> =
        vec![path_arg(exe), "encode".into(), path_arg(&args.input), "--profile".into(), args.profile.clone()];
    cmd.extend(["--encoder", "software", "--json", "--overwrite", "--output-dir"].map(String::from));
    cmd.push(path_arg(dir));
    cmd.extend(extra.iter().map(|s| s.to_string()));
    let usage = run_measured(&cmd, dir, "crema")?;
    let stdout = std::fs::read_to_string(dir.join("crema.stdout")).unwrap_or_default();
    let result = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["event"] == "result")
        .ok_or_else(|| fail(1, format!("`{}` printed no result line", shell_line(&cmd))))?;
    Ok((usage, result, cmd))
}

fn outputs(result: &Value) -> Vec<Value> {
    result["outputs"].as_array().cloned().unwrap_or_default()
}

/// A rendition (or file) and its encoder from a result's JSON.
fn rendition_of(out: &Value, encoder: &Value) -> Result<Rendition, Failure> {
    let dim = |k: &str| {
        out[k].as_u64().and_then(|v| u32::try_from(v).ok()).ok_or_else(|| fail(1, format!("result output without {k}")))
    };
    let name = encoder["name"].as_str().ok_or_else(|| fail(1, "result output without encoder name"))?.to_string();
    let options = encoder["options"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| Some((o["name"].as_str()?.to_string(), o["value"].as_str()?.to_string())))
        .collect();
    Ok(Rendition { width: dim("width")?, height: dim("height")?, encoder: EncoderSetup { name, options } })
}

fn expect_software(enc: &EncoderSetup, prefix: &str) -> Result<(), Failure> {
    if enc.name.starts_with(prefix) {
        Ok(())
    } else {
        Err(fail(1, format!("Crema used {}, not the software encoder the comparison needs", enc.name)))
    }
}

fn ffmpeg_head(args: &BenchArgs) -> Vec<String> {
    let mut v = vec![path_arg(&args.ffmpeg)];
    v.extend(["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i"].map(String::from));
    v.push(path_arg(&args.input));
    v
}

/// Crema's filter graph for these sinks, on the first input's video.
fn ffmpeg_graph(common: &[String], sinks: &[(u32, u32, &str)], scaling: plan::Scaling) -> String {
    // The bench source is SDR: no branch is tone-mapped.
    let filters: Vec<plan::SinkFilter> = sinks
        .iter()
        .map(|&(width, height, pix_fmt)| plan::SinkFilter { width, height, pix_fmt, tone_map: false })
        .collect();
    let spec = plan::graph_spec(common, &filters, scaling);
    match spec.strip_prefix("[in]") {
        Some(rest) => format!("[0:v]{rest}"),
        None => spec,
    }
}

/// `-c:v NAME -KEY VALUE...` exactly as Crema set the encoder up (HEVC
/// tagged `hvc1`, as Crema's MP4 and fMP4 outputs are).
fn encoder_args(enc: &EncoderSetup) -> Vec<String> {
    let mut v = vec!["-c:v".to_string(), enc.name.clone()];
    for (k, val) in &enc.options {
        v.push(format!("-{k}"));
        v.push(val.clone());
    }
    if enc.name == "libx265" {
        v.extend(["-tag:v".to_string(), "hvc1".to_string()]);
    }
    v
}

/// fMP4 HLS output with Crema's muxer options, into `dir`.
fn hls_args(dir: &Path) -> Result<Vec<String>, Failure> {
    std::fs::create_dir_all(dir).map_err(|e| fail(4, format!("{}: {e}", dir.display())))?;
    let mut v: Vec<String> = vec!["-f".into(), "hls".into(), "-hls_time".into(), SEGMENT_SECONDS.to_string()];
    v.extend(
        ["-hls_playlist_type", "vod", "-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init.mp4"]
            .map(String::from),
    );
    v.extend(["-hls_flags".into(), "independent_segments".into(), "-hls_segment_filename".into()]);
    v.push(path_arg(&dir.join("seg_%05d.m4s")));
    v.push(path_arg(&dir.join("index.m3u8")));
    Ok(v)
}

fn path_arg(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_binds_the_first_input() {
        let two = [(1920, 1080, "yuv420p"), (1280, 720, "yuv420p")];
        let g = ffmpeg_graph(&[], &two, plan::Scaling::Direct);
        assert!(g.starts_with(
            "[0:v]null,split=2[s0][s1];[s0]scale=1920:1080:flags=bicubic:out_range=tv,setsar=1,format=yuv420p[out0]"
        ));
        let g = ffmpeg_graph(&[], &two, plan::Scaling::Cascaded);
        assert!(g.starts_with("[0:v]null,scale=1920:1080:flags=bicubic:out_range=tv,setsar=1,format=yuv420p,split=2[out0][c1];[c1]scale=1280:720"), "{g}");
        assert_eq!(
            ffmpeg_graph(&[], &[(640, 360, "yuv420p")], plan::Scaling::Cascaded),
            "[0:v]null,scale=640:360:flags=bicubic:out_range=tv,setsar=1,format=yuv420p[out0]"
        );
    }

    #[test]
    fn encoder_args_keep_crema_order() {
        let enc = EncoderSetup {
            name: "libx264".into(),
            options: vec![("pix_fmt".into(), "yuv420p".into()), ("crf".into(), "23".into())],
        };
        assert_eq!(encoder_args(&enc), ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "23"]);
        let hevc = EncoderSetup { name: "libx265".into(), options: vec![("crf".into(), "24".into())] };
        assert_eq!(encoder_args(&hevc), ["-c:v", "libx265", "-crf", "24", "-tag:v", "hvc1"]);
    }
}
