//! What an audio-only output keeps besides the audio: the recording's tags
//! and the cover picture (an MP4 `covr` stream, a Matroska attachment).

use ff::ffi;
use ffmpeg_next as ff;
use std::path::Path;

use crate::error::{EngineError, Result};
use crate::ffutil;
use crate::output::Mux;

/// Tags that describe a container, not the recording: never carried over.
const CONTAINER_TAGS: &[&str] =
    &["major_brand", "minor_version", "compatible_brands", "encoder", "creation_time", "handler_name", "vendor_id"];

/// The recording's tags: the container's, then the main track's where the
/// container has none of that name (Ogg and FLAC keep Vorbis comments on
/// the stream), without the tags that describe a container.
pub(super) fn recording_tags(ictx: &ff::format::context::Input, main: usize) -> ff::Dictionary<'static> {
    let mut tags = ff::Dictionary::new();
    let mut seen: Vec<String> = Vec::new();
    let stream_tags = ictx.stream(main).map(|s| ffutil::dict_pairs(&s.metadata())).unwrap_or_default();
    let all = ffutil::dict_pairs(&ictx.metadata()).into_iter().chain(stream_tags);
    for (k, v) in all {
        let key = k.to_ascii_lowercase();
        if CONTAINER_TAGS.contains(&key.as_str()) || key == "language" || seen.contains(&key) {
            continue;
        }
        seen.push(key);
        tags.set(&k, &v);
    }
    tags
}

/// Cover pictures of the source: (stream index, MIME type) of every stream
/// with the `attached_pic` disposition in a format both containers take.
pub(super) fn cover_streams(ictx: &ff::format::context::Input) -> Vec<(usize, &'static str)> {
    ictx.streams()
        .filter(|s| s.disposition().bits() & ffi::AV_DISPOSITION_ATTACHED_PIC != 0)
        .filter_map(|s| match s.parameters().id() {
            ff::codec::Id::MJPEG => Some((s.index(), "image/jpeg")),
            ff::codec::Id::PNG => Some((s.index(), "image/png")),
            _ => None,
        })
        .collect()
}

/// An MP4 cover: a copy of the picture stream with the `attached_pic`
/// disposition, which the mov muxer writes as the `covr` tag. Returns the
/// output stream index.
pub(super) fn add_mp4_cover(mux: &mut Mux, ictx: &ff::format::context::Input, index: usize) -> Result<usize> {
    let src = ictx.stream(index).ok_or_else(|| vanished(index))?;
    let mut st = mux
        .ctx
        .add_stream(ff::encoder::find(ff::codec::Id::None))
        .map_err(|e| EngineError::Internal(format!("add cover stream: {e}")))?;
    st.set_parameters(src.parameters());
    st.set_time_base(src.time_base());
    // SAFETY: plain field stores on a valid stream before the header is written.
    unsafe {
        (*(*st.as_mut_ptr()).codecpar).codec_tag = 0;
        (*st.as_mut_ptr()).disposition = ffi::AV_DISPOSITION_ATTACHED_PIC;
    }
    Ok(st.index())
}

/// A Matroska attachment holding the source's cover picture (the packet
/// libavformat keeps in the stream's `attached_pic`), named `cover.jpg` or
/// `cover.png`; Matroska readers (libavformat too) show it as the cover.
pub(super) fn add_mkv_attachment(
    mux: &mut Mux,
    ictx: &ff::format::context::Input,
    index: usize,
    mime: &str,
) -> Result<()> {
    // SAFETY: `index` is a stream of the open input; its attached_pic packet
    // (filled at open for attached pictures) is read, not changed.
    let picture = unsafe {
        let st = *(*ictx.as_ptr()).streams.add(index);
        let pkt = &(*st).attached_pic;
        if pkt.data.is_null() || pkt.size <= 0 {
            return Ok(());
        }
        std::slice::from_raw_parts(pkt.data, pkt.size as usize).to_vec()
    };
    let codec = ictx.stream(index).map_or(ff::codec::Id::MJPEG, |s| s.parameters().id());
    let mut st = mux
        .ctx
        .add_stream(ff::encoder::find(ff::codec::Id::None))
        .map_err(|e| EngineError::Internal(format!("add attachment: {e}")))?;
    // SAFETY: the extradata buffer is allocated with FFmpeg's allocator and
    // the padding it requires; the stream's codecpar takes ownership of it.
    unsafe {
        let par = (*st.as_mut_ptr()).codecpar;
        (*par).codec_type = ffi::AVMediaType::AVMEDIA_TYPE_ATTACHMENT;
        (*par).codec_id = codec.into();
        let size = picture.len();
        let buf = ffi::av_mallocz(size + ffi::AV_INPUT_BUFFER_PADDING_SIZE as usize) as *mut u8;
        if buf.is_null() {
            return Err(EngineError::Internal("out of memory for the cover attachment".into()));
        }
        std::ptr::copy_nonoverlapping(picture.as_ptr(), buf, size);
        (*par).extradata = buf;
        (*par).extradata_size = size as i32;
    }
    let mut md = ff::Dictionary::new();
    md.set("filename", if mime == "image/png" { "cover.png" } else { "cover.jpg" });
    md.set("mimetype", mime);
    st.set_metadata(md);
    Ok(())
}

/// Writes the cover picture packet to its MP4 stream (the muxer keeps it
/// for the `covr` tag).
pub(super) fn write_cover(mux: &mut Mux, stream: usize, mut packet: ff::Packet, input: &Path) -> Result<()> {
    packet.set_stream(stream);
    packet.set_position(-1);
    packet.set_pts(Some(0));
    packet.set_dts(Some(0));
    packet
        .write_interleaved(&mut mux.ctx)
        .map_err(|e| EngineError::from_ffmpeg(input, Some(&mux.report_path), "write", e))
}

/// An internal error: stream `index` of the open input is gone.
pub(super) fn vanished(index: usize) -> EngineError {
    EngineError::Internal(format!("audio stream {index} vanished"))
}
