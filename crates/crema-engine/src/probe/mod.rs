//! What a source file is: container, streams, color, HDR, rotation, timecode.
//!
//! [`probe`] opens a file with libavformat, reads the stream headers (and the
//! first video frame's side data where the container does not carry HDR
//! metadata), hashes the file with SHA-256 and returns a [`MediaInfo`];
//! [`probe_with`] does the same and can be canceled.
//!
//! [`open_input`] is how the whole engine opens a source: as a file (never
//! a protocol), and never as a playlist or concat list that would make
//! libavformat read other files.
//!
//! The JSON form of [`MediaInfo`] is what `crema probe --json` prints; its
//! first six fields are the `/v1` contract's `source` object.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use ffmpeg_next::format::context::Input;
use sha2::{Digest, Sha256};

use self::describe::describe;
use self::first_frames::check_canceled;
use self::open::{Source, open_source, os_reason, unreadable};
use crate::error::Result;
pub use crate::media::{AudioStream, ContentLightLevel, MasteringDisplay, MediaInfo, OtherStream, VideoStream};
use crate::progress::CancelFlag;

mod describe;
mod ffi;
mod first_frames;
mod open;
mod stream_facts;

/// Probes `path`: [`probe_with`] with a flag nobody raises.
///
/// Errors: [`crate::EngineError::InputUnreadable`] when the file cannot be opened
/// for reading; [`crate::EngineError::InputUnsupported`] when it is empty, not a
/// media container, a playlist or concat list, a still image, truncated, or
/// has no video or audio stream. A file with audio but no video probes fine
/// (`video: None`); encoding it is refused later.
///
/// Opens the file with [`open_input`] and reads the stream headers; decodes
/// at most a few video packets when the field order or (for PQ/HLG) the HDR
/// metadata is only in the bitstream; reads every packet only when neither
/// container nor streams declare a duration (raw elementary streams). Then
/// hashes the whole file.
pub fn probe(path: &Path) -> Result<MediaInfo> {
    probe_with(path, &CancelFlag::new())
}

/// [`probe`], stopping with [`crate::EngineError::Canceled`] when `cancel` is
/// raised: checked before opening, between packets of the packet pass, and
/// between the 1 MiB reads of the SHA-256 (so a multi-gigabyte source stops
/// within one read, not after hashing all of it).
///
/// Errors: those of [`probe`], and [`crate::EngineError::Canceled`].
pub fn probe_with(path: &Path, cancel: &CancelFlag) -> Result<MediaInfo> {
    check_canceled(cancel)?;
    let Source { mut input, file, bytes } = open_source(path)?;
    let mut info = describe(path, &mut input, bytes, cancel)?;
    drop(input);
    info.sha256 = sha256_file_from(path, file, cancel)?;
    Ok(info)
}

/// [`probe_with`] without the SHA-256 (`sha256` is left empty): the header
/// facts only, plus the packet pass when the headers leave the duration or
/// field order open. Fast on big files, for UIs that show what a file is
/// before anyone asks for an encode.
///
/// Errors: those of [`probe_with`].
pub fn probe_facts(path: &Path, cancel: &CancelFlag) -> Result<MediaInfo> {
    check_canceled(cancel)?;
    let Source { mut input, bytes, .. } = open_source(path)?;
    describe(path, &mut input, bytes, cancel)
}

/// Lower-case hex SHA-256 of the file at `path` (the [`MediaInfo::sha256`]
/// that [`probe_with`] computes), read in 1 MiB blocks with `cancel` checked
/// between reads.
///
/// Errors: [`crate::EngineError::InputUnreadable`] when the file cannot be opened or
/// read; [`crate::EngineError::Canceled`] when `cancel` is raised.
pub fn sha256_file(path: &Path, cancel: &CancelFlag) -> Result<String> {
    check_canceled(cancel)?;
    let file = File::open(path).map_err(|e| unreadable(path, os_reason(&e)))?;
    sha256_file_from(path, file, cancel)
}

/// Opens a source file for demuxing: the one way every part of the engine
/// (probe, the encode pipeline, `sophon-auto`'s sample encode) opens a
/// user's file, so all of them accept and refuse the same files.
///
/// The context is open with its stream information read
/// (`avformat_find_stream_info` done), like `ffmpeg_next::format::input`.
///
/// Why not `ffmpeg_next::format::input`: the LAN server opens files that
/// users name or upload, and libavformat picks what to do from the name and
/// the contents, not the extension. Left to itself it would follow an
/// `.m3u8` playlist or an `ffconcat` list (even one named `x.mov`) that names
/// `/etc/passwd`, another user's upload or a URL. So:
///
/// - the path is passed as `file:<path>`, so a name such as `12:30.mov`,
///   `concat:a.mp4|b.mp4` or `http:x` is always a file name and never a
///   protocol;
/// - `protocol_whitelist` is `file` only: no network, no `concat:`,
///   `subfile:`, `crypto:`, `data:` or `tee:` protocols, for this context or
///   any it would open;
/// - `format_whitelist` names every demuxer of the linked FFmpeg except
///   those that read other files or URLs named inside the file: `hls`
///   (`applehttp`), `dash`, `concat` (`ffconcat`), `imf`, `sdp`, `rtp`,
///   `rtsp`, `sap`, and the script inputs `lavfi`, `avisynth` and
///   `vapoursynth`. libavformat checks it after detecting the format and
///   before the demuxer reads a byte of the list, so nothing it names is
///   opened;
/// - `image2` gets `pattern_type=none`, so a name like `img%03d.jpg` is that
///   one file and never a numbered sequence of other files; `mov` gets
///   `enable_drefs=0` (FFmpeg's default) so external data references stay
///   unfollowed.
///
/// Errors, the same as [`probe`]'s for the same file:
/// [`crate::EngineError::InputUnreadable`] when it is missing, a folder, not a
/// regular file, or cannot be read; [`crate::EngineError::InputUnsupported`] when it
/// is empty, a playlist or concat list (cause `"playlists and concat lists
/// are not accepted as sources"`), not a media file FFmpeg can read, or
/// truncated so that its streams cannot be read.
pub fn open_input(path: &Path) -> Result<Input> {
    Ok(open_source(path)?.input)
}

// ---------------------------------------------------------------------------
// Hashing
// ---------------------------------------------------------------------------

/// SHA-256 of `file` from its start, 1 MiB per read, `cancel` checked before each.
fn sha256_file_from(path: &Path, mut file: File, cancel: &CancelFlag) -> Result<String> {
    file.seek(SeekFrom::Start(0)).map_err(|e| unreadable(path, os_reason(&e)))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        check_canceled(cancel)?;
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(unreadable(path, os_reason(&e))),
        }
    }
    Ok(hex::encode(hasher.finalize()))
}
