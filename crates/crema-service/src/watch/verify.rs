//! Blocking file work after a job ends: verifying the output (it decodes and
//! its duration matches the source's within one frame), placing it atomically
//! without overwriting anything, and the source post-actions.

use ffmpeg_next as ff;
use std::io;
use std::path::{Path, PathBuf};

/// A video stream's extent.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Span {
    /// From the first packet's presentation time to the end of the last one, in seconds.
    pub seconds: f64,
    /// From the first decoded frame to the end of the last one, in seconds
    /// (`None` without decoding).
    pub decoded_seconds: Option<f64>,
    /// One frame, in seconds (from the stream's average frame rate; 1/25 when unknown).
    pub frame_seconds: f64,
}

/// How [`video_span`] reads a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Read {
    /// Packets only (cheap: no decoding).
    Packets,
    /// Decode every packet; a decode error, or fewer frames than packets, is an error.
    DecodeStrict,
    /// Decode what decodes (a source may start mid-GOP or carry damaged frames).
    DecodeLenient,
}

/// Measures the best video stream of `path` from its packets' timestamps
/// (packets with negative times, which an edit list discards, do not count)
/// and, when decoding, from the decoded frames' timestamps. A file without
/// video (an audio-only source and its encode; a cover picture is not
/// video) is measured by its best audio stream, from its packets only (one
/// "frame" is then one AAC frame, 1024 samples).
pub(crate) fn video_span(path: &Path, read: Read) -> Result<Span, String> {
    crema_engine::init().map_err(|e| e.to_string())?;
    let mut input = crema_engine::probe::open_input(path).map_err(|e| e.to_string())?;
    let is_picture =
        |st: &ff::format::stream::Stream| st.disposition().contains(ff::format::stream::Disposition::ATTACHED_PIC);
    let video = input.streams().best(ff::media::Type::Video).filter(|st| !is_picture(st)).map(|st| st.index());
    let audio = input.streams().best(ff::media::Type::Audio).map(|st| st.index());
    if video.is_none()
        && let Some(index) = audio
    {
        return audio_span(&mut input, index);
    }
    let (index, tb, rate, params) = {
        let st = video.and_then(|i| input.stream(i)).ok_or_else(|| "it has no video stream".to_string())?;
        (st.index(), st.time_base(), st.avg_frame_rate(), st.parameters())
    };
    let frame_seconds = if rate.numerator() > 0 && rate.denominator() > 0 {
        f64::from(rate.denominator()) / f64::from(rate.numerator())
    } else {
        1.0 / 25.0
    };
    let tick = f64::from(tb.numerator()) / f64::from(tb.denominator().max(1));
    let mut decoder = if read == Read::Packets {
        None
    } else {
        let ctx = ff::codec::Context::from_parameters(params).map_err(|e| format!("no decoder: {e}"))?;
        Some(ctx.decoder().video().map_err(|e| format!("cannot open the decoder: {e}"))?)
    };
    let strict = read == Read::DecodeStrict;
    let (mut first, mut end) = (i64::MAX, i64::MIN);
    let (mut f_first, mut f_last) = (i64::MAX, i64::MIN);
    let (mut packets, mut frames) = (0u64, 0u64);
    let mut frame = ff::frame::Video::empty();
    let mut take = |frame: &ff::frame::Video, frames: &mut u64| {
        *frames += 1;
        if let Some(t) = frame.timestamp() {
            f_first = f_first.min(t);
            f_last = f_last.max(t);
        }
    };
    loop {
        let mut packet = ff::Packet::empty();
        match packet.read(&mut input) {
            Ok(()) => {}
            Err(ff::Error::Eof) => break,
            Err(e) => return Err(format!("reading packet {packets}: {e}")),
        }
        if packet.stream() != index {
            continue;
        }
        packets += 1;
        if let Some(pts) = packet.pts().filter(|p| *p >= 0) {
            let dur = if packet.duration() > 0 { packet.duration() } else { (frame_seconds / tick).round() as i64 };
            first = first.min(pts);
            end = end.max(pts + dur);
        }
        if let Some(d) = decoder.as_mut() {
            match d.send_packet(&packet) {
                Ok(()) => {}
                Err(e) if strict => return Err(format!("decoding packet {packets}: {e}")),
                Err(_) => {}
            }
            while d.receive_frame(&mut frame).is_ok() {
                take(&frame, &mut frames);
            }
        }
    }
    if let Some(d) = decoder.as_mut() {
        match d.send_eof() {
            Ok(()) => {}
            Err(e) if strict => return Err(format!("decoding the end: {e}")),
            Err(_) => {}
        }
        while d.receive_frame(&mut frame).is_ok() {
            take(&frame, &mut frames);
        }
        if strict && frames < packets {
            return Err(format!("only {frames} of {packets} video packets decoded"));
        }
    }
    if packets == 0 || first == i64::MAX {
        return Err("its video stream has no frames".into());
    }
    let decoded_seconds = (f_first != i64::MAX).then(|| (f_last - f_first) as f64 * tick + frame_seconds);
    if decoder.is_some() && decoded_seconds.is_none() {
        return Err("no frame decodes".into());
    }
    Ok(Span { seconds: (end - first) as f64 * tick, decoded_seconds, frame_seconds })
}

/// The extent of audio stream `index` from its packets (negative times, the
/// encoder delay an edit list discards, do not count); one frame is 1024
/// samples at the stream's rate (an AAC frame).
fn audio_span(input: &mut ff::format::context::Input, index: usize) -> Result<Span, String> {
    let (tb, rate) = {
        let st = input.stream(index).ok_or("no audio stream")?;
        // SAFETY: plain field read on a live stream's codec parameters.
        let rate = unsafe { (*(*st.as_ptr()).codecpar).sample_rate };
        (st.time_base(), rate)
    };
    let tick = f64::from(tb.numerator()) / f64::from(tb.denominator().max(1));
    let frame_seconds = 1024.0 / f64::from(if rate > 0 { rate } else { 48000 });
    let (mut first, mut end, mut packets) = (i64::MAX, i64::MIN, 0u64);
    loop {
        let mut packet = ff::Packet::empty();
        match packet.read(input) {
            Ok(()) => {}
            Err(ff::Error::Eof) => break,
            Err(e) => return Err(format!("reading packet {packets}: {e}")),
        }
        if packet.stream() != index {
            continue;
        }
        packets += 1;
        if let Some(pts) = packet.pts().filter(|p| *p >= 0) {
            first = first.min(pts);
            end = end.max(pts + packet.duration().max(0));
        }
    }
    if packets == 0 || first == i64::MAX {
        return Err("its audio stream has no packets".into());
    }
    Ok(Span { seconds: (end - first) as f64 * tick, decoded_seconds: None, frame_seconds })
}

fn compare(what: &str, got: f64, source: f64, frame_seconds: f64, slack: f64) -> Result<(), String> {
    if (got - source).abs() > frame_seconds + slack {
        return Err(format!(
            "{what} lasts {got:.3} s but the source lasts {source:.3} s (more than one frame, {frame_seconds:.3} s, apart)"
        ));
    }
    Ok(())
}

/// Verifies a single-file output against the source: it decodes completely
/// and its video lasts as long as the source's within one frame. The
/// source is measured from its packets; when that differs (a broadcast
/// recording that starts mid-GOP, damaged frames the encode could not
/// keep), it is decoded and what decodes is the measure.
pub(crate) fn verify_file(output: &Path, source: &Path) -> Result<(), String> {
    let src = video_span(source, Read::Packets).map_err(|e| format!("the source cannot be measured: {e}"))?;
    let out = video_span(output, Read::DecodeStrict).map_err(|e| format!("the output does not decode: {e}"))?;
    let out_decoded = out.decoded_seconds.unwrap_or(out.seconds);
    if compare("the output", out.seconds, src.seconds, src.frame_seconds, 0.001).is_ok() {
        return Ok(());
    }
    let src = video_span(source, Read::DecodeLenient).map_err(|e| format!("the source cannot be measured: {e}"))?;
    let src_decoded = src.decoded_seconds.unwrap_or(src.seconds);
    compare("the output", out_decoded, src_decoded, src.frame_seconds, 0.001)
}

/// Rules of `check_package` that a correct package may break: a source too
/// small for more than one rung makes a one-variant ladder.
const HLS_RULES_NOT_CHECKED: &[&str] = &["master.variants"];

/// Verifies an HLS package: it passes `crema_engine::hls::check_package`
/// (but for [`HLS_RULES_NOT_CHECKED`]) and every variant playlist's segments
/// add up to the source's duration within one frame (plus the rounding of
/// the `#EXTINF` values).
pub(crate) fn verify_hls(master: &Path, source: &Path) -> Result<(), String> {
    let src = video_span(source, Read::Packets).map_err(|e| format!("the source cannot be measured: {e}"))?;
    let dir = master.parent().ok_or_else(|| "the package has no folder".to_string())?;
    let report = crema_engine::hls::check_package(dir).map_err(|e| format!("the package cannot be read: {e}"))?;
    let broken: Vec<String> = report
        .violations
        .iter()
        .filter(|v| !HLS_RULES_NOT_CHECKED.contains(&v.rule))
        .take(3)
        .map(|v| format!("{}: {}", v.rule, v.message))
        .collect();
    if !broken.is_empty() {
        return Err(format!("the package breaks HLS rules: {}", broken.join("; ")));
    }
    let text = std::fs::read(master).map_err(|e| format!("{}: {e}", master.display()))?;
    let Ok(m3u8_rs::Playlist::MasterPlaylist(m)) = m3u8_rs::parse_playlist_res(&text) else {
        return Err("master.m3u8 is not a master playlist".into());
    };
    if m.variants.is_empty() {
        return Err("master.m3u8 lists no variants".into());
    }
    for v in &m.variants {
        let path = dir.join(&v.uri);
        let text = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let Ok(m3u8_rs::Playlist::MediaPlaylist(p)) = m3u8_rs::parse_playlist_res(&text) else {
            return Err(format!("{} is not a media playlist", v.uri));
        };
        let total: f64 = p.segments.iter().map(|s| f64::from(s.duration)).sum();
        let slack = 0.001 * p.segments.len() as f64;
        if compare(&format!("variant {}", v.uri), total, src.seconds, src.frame_seconds, slack).is_err() {
            // As for files: measure what of the source decodes.
            let dec =
                video_span(source, Read::DecodeLenient).map_err(|e| format!("the source cannot be measured: {e}"))?;
            let src_decoded = dec.decoded_seconds.unwrap_or(dec.seconds);
            compare(&format!("variant {}", v.uri), total, src_decoded, dec.frame_seconds, slack)?;
        }
    }
    Ok(())
}

/// `dir/stem.ext`, else `dir/stem-2.ext`, `-3`… : the first name not taken.
fn numbered(dir: &Path, stem: &str, ext: &str, n: u32) -> PathBuf {
    let dot = if ext.is_empty() { "" } else { "." };
    if n <= 1 { dir.join(format!("{stem}{dot}{ext}")) } else { dir.join(format!("{stem}-{n}{dot}{ext}")) }
}

fn is_cross_device(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::CrossesDevices
}

fn copy_tree(src: &Path, dst: &Path) -> io::Result<()> {
    if src.is_dir() {
        std::fs::create_dir_all(dst)?;
        for entry in std::fs::read_dir(src)? {
            let entry = entry?;
            copy_tree(&entry.path(), &dst.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        std::fs::copy(src, dst).map(|_| ())
    }
}

fn remove_any(p: &Path) -> io::Result<()> {
    if p.is_dir() { std::fs::remove_dir_all(p) } else { std::fs::remove_file(p) }
}

/// Moves `src` (file or folder) to `tmp` (same folder as the final name),
/// copying across file systems.
fn to_tmp(src: &Path, tmp: &Path) -> io::Result<()> {
    if tmp.exists() {
        remove_any(tmp)?;
    }
    match std::fs::rename(src, tmp) {
        Ok(()) => Ok(()),
        Err(e) if is_cross_device(&e) => {
            if let Err(e) = copy_tree(src, tmp) {
                let _ = remove_any(tmp);
                return Err(e);
            }
            remove_any(src)
        }
        Err(e) => Err(e),
    }
}

/// Whether two paths are the same file (a hard link left by an interrupted publish).
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (a, b);
        false
    }
}

/// Gives `tmp` exactly the name `dest`, never replacing an existing file:
/// files by hard link (which fails when the name exists) then unlinking the
/// temp name; folders by rename after checking the name is free. Returns
/// false when `dest` is taken by something else. A `dest` that already is
/// `tmp` (a publish interrupted between link and unlink) is finished.
pub(crate) fn publish_exact(tmp: &Path, dest: &Path) -> io::Result<bool> {
    if tmp.is_dir() {
        if dest.symlink_metadata().is_ok() {
            return Ok(false);
        }
        std::fs::rename(tmp, dest)?;
        return Ok(true);
    }
    match std::fs::hard_link(tmp, dest) {
        Ok(()) => {
            std::fs::remove_file(tmp)?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            if same_file(tmp, dest) {
                std::fs::remove_file(tmp)?;
                return Ok(true);
            }
            Ok(false)
        }
        Err(_) => {
            // No hard links here (some network shares): check, then rename.
            if dest.symlink_metadata().is_ok() {
                return Ok(false);
            }
            std::fs::rename(tmp, dest)?;
            Ok(true)
        }
    }
}

/// The first name `dir/stem[-n].ext` not taken.
pub(crate) fn free_name(dir: &Path, stem: &str, ext: &str) -> io::Result<PathBuf> {
    (1..10_000)
        .map(|n| numbered(dir, stem, ext, n))
        .find(|p| p.symlink_metadata().is_err())
        .ok_or_else(|| io::Error::other(format!("no free name for {stem}.{ext} in {}", dir.display())))
}

/// One thing to place: the job's file or folder and the wanted final name.
pub(crate) struct Placement {
    /// The job's output (`<output_dir>/<job id>/output.mp4`, `…/hls`).
    pub src: PathBuf,
    /// Folder of the final name (created when missing).
    pub dir: PathBuf,
    /// Final name without extension (`clip.sophon-espresso`).
    pub stem: String,
    /// Extension without the dot (`mp4`, `hls`).
    pub ext: String,
    /// Temp name inside `dir`, unique to the file record (`.crema-placing-42-main.mp4`).
    pub tmp_name: String,
}

impl Placement {
    /// The temp name inside the destination folder.
    pub(crate) fn tmp(&self) -> PathBuf {
        self.dir.join(&self.tmp_name)
    }

    /// Moves the job's output to the temp name in the destination folder
    /// (copying across file systems). Safe to repeat after a crash: an output
    /// already moved stays at its temp name. Returns whether the temp name
    /// now holds the output.
    pub(crate) fn stage(&self) -> io::Result<bool> {
        std::fs::create_dir_all(&self.dir)?;
        let tmp = self.tmp();
        if self.src.exists() {
            to_tmp(&self.src, &tmp)?;
        }
        Ok(tmp.symlink_metadata().is_ok())
    }
}

/// Places an output whose final name is not recorded anywhere (the kept
/// MP4 of an HLS ladder): stage, then the first free name.
pub(crate) fn place_unrecorded(p: &Placement) -> io::Result<Option<PathBuf>> {
    if !p.stage()? {
        return Ok(None);
    }
    loop {
        let dest = free_name(&p.dir, &p.stem, &p.ext)?;
        if publish_exact(&p.tmp(), &dest)? {
            return Ok(Some(dest));
        }
    }
}

/// Moves a source into `dest_dir` under its own name (numbered if taken),
/// never replacing anything; returns where it went.
pub(crate) fn move_source(src: &Path, dest_dir: &Path) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dest_dir)?;
    let name = src.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "source".into());
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s.to_string(), e.to_string()),
        _ => (name.clone(), String::new()),
    };
    // Same file system: a hard link then unlink is an atomic, non-replacing move.
    for n in 1..10_000 {
        let dest = numbered(dest_dir, &stem, &ext, n);
        match std::fs::hard_link(src, &dest) {
            Ok(()) => {
                std::fs::remove_file(src)?;
                return Ok(dest);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(_) => break,
        }
    }
    // Across file systems (or without hard links): copy to a temp name, publish, remove.
    let tmp = dest_dir.join(format!(".crema-moving-{name}"));
    std::fs::copy(src, &tmp)?;
    loop {
        let dest = free_name(dest_dir, &stem, &ext)?;
        if publish_exact(&tmp, &dest)? {
            std::fs::remove_file(src)?;
            return Ok(dest);
        }
    }
}

/// Writes `<file>.error.txt` beside `file`, saying why it failed.
pub(crate) fn write_error_file(file: &Path, text: &str) -> io::Result<PathBuf> {
    let mut name = file.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".error.txt");
    let path = file.with_file_name(name);
    std::fs::write(&path, text)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clip(dir: &Path, name: &str, seconds: &str) -> PathBuf {
        let out = dir.join(name);
        let ok = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x90:rate=25", "-t", seconds])
            .args(["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"])
            .arg(&out)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "the ffmpeg CLI is needed for this test");
        out
    }

    #[test]
    fn verification_catches_short_and_undecodable_outputs() {
        let tmp = tempfile::tempdir().unwrap();
        let short = clip(tmp.path(), "short.mp4", "0.4");
        let long = clip(tmp.path(), "long.mp4", "1");
        verify_file(&short, &short).expect("an output the same as its source verifies");
        let e = verify_file(&short, &long).unwrap_err();
        assert!(e.contains("lasts 0.400 s but the source lasts 1.000 s"), "{e}");
        let text = tmp.path().join("text.mp4");
        std::fs::write(&text, b"not a video").unwrap();
        let e = verify_file(&text, &long).unwrap_err();
        assert!(e.starts_with("the output does not decode"), "{e}");
        // A cut-off copy (the index points past the end) does not verify either.
        let bytes = std::fs::read(&long).unwrap();
        let cut = tmp.path().join("cut.mp4");
        std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
        assert!(verify_file(&cut, &long).is_err());
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn placing_never_overwrites() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("clip.p.mp4"), b"existing").unwrap();
        let src = tmp.path().join("job/output.mp4");
        std::fs::create_dir_all(src.parent().unwrap()).unwrap();
        std::fs::write(&src, b"new").unwrap();
        let p = Placement {
            src: src.clone(),
            dir: out.clone(),
            stem: "clip.p".into(),
            ext: "mp4".into(),
            tmp_name: ".crema-placing-1-main.mp4".into(),
        };
        assert!(p.stage().unwrap());
        assert!(!src.exists());
        // The name in use is refused, the next free one is taken.
        assert!(!publish_exact(&p.tmp(), &out.join("clip.p.mp4")).unwrap());
        let dest = free_name(&out, "clip.p", "mp4").unwrap();
        assert_eq!(dest, out.join("clip.p-2.mp4"));
        // A publish interrupted between link and unlink is finished, not repeated.
        std::fs::hard_link(p.tmp(), &dest).unwrap();
        assert!(publish_exact(&p.tmp(), &dest).unwrap());
        assert_eq!(std::fs::read(out.join("clip.p.mp4")).unwrap(), b"existing");
        assert_eq!(std::fs::read(&dest).unwrap(), b"new");
        assert!(!p.tmp().exists());
        assert_eq!(files(&out), vec!["clip.p-2.mp4", "clip.p.mp4"]);
        // Staging again after the fact finds nothing to do.
        assert!(!p.stage().unwrap());
    }

    #[test]
    fn moving_a_source_keeps_both() {
        let tmp = tempfile::tempdir().unwrap();
        let done = tmp.path().join("done");
        std::fs::create_dir_all(&done).unwrap();
        std::fs::write(done.join("a.mov"), b"old").unwrap();
        let src = tmp.path().join("a.mov");
        std::fs::write(&src, b"new").unwrap();
        let moved = move_source(&src, &done).unwrap();
        assert_eq!(moved, done.join("a-2.mov"));
        assert_eq!(std::fs::read(done.join("a.mov")).unwrap(), b"old");
        assert!(!src.exists());
        let err = write_error_file(&moved, "why").unwrap();
        assert_eq!(err, done.join("a-2.mov.error.txt"));
    }
}
