//! Reading segments through libavformat: the container sniffed from the
//! first bytes, the first segment probed with its initialization section,
//! the first video packet of every other segment (key flag, IDR, PTS).

use std::ffi::CString;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ffmpeg_next as ffmpeg;

use super::super::codecs::codec_string_from_parameters;
use super::super::master::VideoRange;
use super::super::playlist::SegmentFile;

/// Whether a media playlist carries video or audio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Video,
    Audio,
}

/// Facts of a playlist's stream, from its first segment.
#[derive(Clone, Debug)]
pub(super) struct StreamFacts {
    /// RFC 6381 string rebuilt from the bitstream; `None` when the codec is
    /// not one Crema can describe.
    pub(super) codec_string: Option<String>,
    /// The MP4 sample entry (`avc1`, `hvc1`, `hev1`...), when in MP4.
    pub(super) sample_entry: Option<String>,
    pub(super) is_hevc: bool,
    pub(super) width: u32,
    pub(super) height: u32,
    /// Average frame rate of the first segment.
    pub(super) frame_rate: Option<f64>,
    /// libavformat's base rate guess (`r_frame_rate`): the rate every
    /// timestamp fits, the highest rate of a variable-rate stream.
    pub(super) nominal_frame_rate: Option<f64>,
    pub(super) range: VideoRange,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Container {
    Fmp4,
    Ts,
    Unknown,
}

/// fMP4 when the segment starts with an ISO BMFF box a segment may start
/// with, MPEG-TS when it starts with a sync byte.
pub(super) fn sniff_container(segment: &SegmentFile) -> Container {
    let mut head = [0u8; 8];
    let read = (|| -> std::io::Result<()> {
        let mut file = std::fs::File::open(&segment.path)?;
        file.seek(SeekFrom::Start(segment.range.map_or(0, |(o, _)| o)))?;
        file.read_exact(&mut head)
    })();
    if read.is_err() {
        return Container::Unknown;
    }
    match &head[4..8] {
        b"styp" | b"moof" | b"sidx" | b"ftyp" | b"emsg" | b"prft" | b"free" => Container::Fmp4,
        _ if head[0] == 0x47 => Container::Ts,
        _ => Container::Unknown,
    }
}

/// A segment (with its initialization section) as something libavformat
/// can open: a `concat:` URL over the files, or a temporary file holding
/// the byte ranges when the playlist uses `EXT-X-BYTERANGE`.
pub(super) struct SegmentInput {
    pub(super) url: String,
    pub(super) _temp: Option<TempFile>,
}

impl SegmentInput {
    fn new(segment: &SegmentFile) -> std::result::Result<Self, String> {
        let plain = |p: &Path| -> Option<String> {
            let abs = std::path::absolute(p).ok()?;
            let s = abs.to_str()?.to_string();
            (!s.contains('|')).then_some(s)
        };
        let uses_ranges = segment.range.is_some() || segment.init.as_ref().is_some_and(|i| i.range.is_some());
        if !uses_ranges {
            match &segment.init {
                None => {
                    if let Some(seg) = plain(&segment.path) {
                        return Ok(Self { url: format!("file:{seg}"), _temp: None });
                    }
                }
                Some(init) => {
                    if let (Some(init), Some(seg)) = (plain(&init.path), plain(&segment.path)) {
                        return Ok(Self { url: format!("concat:{init}|{seg}"), _temp: None });
                    }
                }
            }
        }
        let temp = TempFile::create()?;
        {
            let mut out = std::fs::File::create(&temp.0).map_err(|e| format!("temporary file: {e}"))?;
            if let Some(init) = &segment.init {
                copy_range(&init.path, init.range, &mut out).map_err(|e| format!("{}: {e}", init.uri))?;
            }
            copy_range(&segment.path, segment.range, &mut out).map_err(|e| format!("{}: {e}", segment.uri))?;
        }
        let url = format!("file:{}", temp.0.to_str().ok_or("temporary folder path is not UTF-8")?);
        Ok(Self { url, _temp: Some(temp) })
    }
}

pub(super) fn copy_range(path: &Path, range: Option<(u64, u64)>, out: &mut std::fs::File) -> std::io::Result<()> {
    let mut file = std::fs::File::open(path)?;
    match range {
        None => {
            std::io::copy(&mut file, out)?;
        }
        Some((offset, length)) => {
            file.seek(SeekFrom::Start(offset))?;
            std::io::copy(&mut file.take(length), out)?;
        }
    }
    out.flush()
}

/// A file in the system temporary folder, removed on drop.
pub(super) struct TempFile(PathBuf);

impl TempFile {
    fn create() -> std::result::Result<Self, String> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("crema-hls-check-{}-{n}.seg", std::process::id()));
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| format!("temporary file {}: {e}", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The first video packet of a segment.
#[derive(Clone, Copy, Debug)]
pub(super) struct FirstPacket {
    /// The demuxer's key flag (sync sample in MP4, random access point in TS).
    pub(super) key: bool,
    /// Whether its first picture is an IDR, from the NAL unit types; `None`
    /// when the codec is not H.264/HEVC or the payload cannot be parsed.
    pub(super) idr: Option<bool>,
    /// The first VCL NAL unit type, for messages.
    pub(super) nal_type: Option<u8>,
    /// PTS, seconds.
    pub(super) pts: Option<f64>,
}

/// Opens a playlist's first segment with stream probing and returns its
/// stream facts and, for video, its first packet.
pub(super) fn probe_segment(
    segment: &SegmentFile,
    kind: Kind,
) -> std::result::Result<(Option<StreamFacts>, Option<FirstPacket>), String> {
    let input = SegmentInput::new(segment)?;
    let mut ictx = ffmpeg::format::input(&input.url).map_err(|e| format!("FFmpeg cannot open the segment: {e}"))?;
    let medium = match kind {
        Kind::Video => ffmpeg::media::Type::Video,
        Kind::Audio => ffmpeg::media::Type::Audio,
    };
    let Some(stream) = ictx.streams().find(|s| s.parameters().medium() == medium) else {
        return Err(format!("no {} stream in the segment", if kind == Kind::Video { "video" } else { "audio" }));
    };
    let index = stream.index();
    let facts = stream_facts(&stream);
    let packet = match kind {
        Kind::Video => Some(first_packet(&mut ictx, index, segment)?),
        Kind::Audio => None,
    };
    Ok((Some(facts), packet))
}

/// Opens a segment without probing and reads its first video packet.
pub(super) fn read_first_video_packet(
    segment: &SegmentFile,
) -> std::result::Result<(Option<StreamFacts>, Option<FirstPacket>), String> {
    let input = SegmentInput::new(segment)?;
    let mut ictx = open_without_probing(&input.url)?;
    let index = ictx
        .streams()
        .find(|s| s.parameters().medium() == ffmpeg::media::Type::Video)
        .map(|s| s.index())
        .ok_or("no video stream in the segment")?;
    Ok((None, Some(first_packet(&mut ictx, index, segment)?)))
}

/// `avformat_open_input` without `avformat_find_stream_info`: the headers
/// (moov of the init section, the PMT of a TS segment) are enough to read
/// packets, and skipping the probe keeps one open per segment cheap.
pub(super) fn open_without_probing(url: &str) -> std::result::Result<ffmpeg::format::context::Input, String> {
    let c_url = CString::new(url).map_err(|_| "segment path contains a NUL byte".to_string())?;
    let mut ctx: *mut ffmpeg::ffi::AVFormatContext = std::ptr::null_mut();
    // SAFETY: `ctx` is a valid out-pointer initialised to null and `c_url`
    // outlives the call; on failure libavformat frees what it allocated and
    // leaves `ctx` null.
    let ret =
        unsafe { ffmpeg::ffi::avformat_open_input(&mut ctx, c_url.as_ptr(), std::ptr::null(), std::ptr::null_mut()) };
    if ret < 0 || ctx.is_null() {
        return Err(format!("FFmpeg cannot open the segment: {}", ffmpeg::Error::from(ret)));
    }
    // SAFETY: `ctx` is an opened input context that nothing else owns;
    // `Input` closes it with `avformat_close_input` when dropped.
    Ok(unsafe { ffmpeg::format::context::Input::wrap(ctx) })
}

/// Reads packets until the first one of stream `index`.
pub(super) fn first_packet(
    ictx: &mut ffmpeg::format::context::Input,
    index: usize,
    segment: &SegmentFile,
) -> std::result::Result<FirstPacket, String> {
    const MAX_PACKETS: usize = 4096;
    let (time_base, codec) = ictx
        .stream(index)
        .map(|s| (f64::from(s.time_base()), s.parameters().id()))
        .unwrap_or((0.0, ffmpeg::codec::Id::None));
    // MP4 samples hold length-prefixed NAL units (FFmpeg always writes
    // 4-byte lengths); MPEG-TS carries Annex-B start codes.
    let annex_b = sniff_container(segment) != Container::Fmp4;
    let mut packet = ffmpeg::Packet::empty();
    for _ in 0..MAX_PACKETS {
        match packet.read(ictx) {
            Ok(()) if packet.stream() == index => {
                let pts = packet.pts().or(packet.dts()).map(|t| t as f64 * time_base);
                let nal_type = packet.data().and_then(|d| first_vcl_nal_type(d, annex_b, codec));
                let idr = nal_type.map(|t| match codec {
                    ffmpeg::codec::Id::HEVC => t == 19 || t == 20,
                    _ => t == 5,
                });
                return Ok(FirstPacket { key: packet.is_key(), idr, nal_type, pts });
            }
            Ok(()) | Err(ffmpeg::Error::InvalidData) => {}
            Err(ffmpeg::Error::Eof) => return Err("the segment holds no video packet".into()),
            Err(e) => return Err(format!("FFmpeg cannot read the segment: {e}")),
        }
    }
    Err(format!("no video packet among the first {MAX_PACKETS} packets"))
}

/// The NAL unit type of the first VCL (coded slice) NAL unit of an access
/// unit: H.264 types 1–5 (ITU-T H.264 Table 7-1; 5 is IDR), HEVC types
/// 0–31 (ITU-T H.265 Table 7-1; 19 and 20 are IDR, 21 CRA, 16–18 BLA).
pub(super) fn first_vcl_nal_type(data: &[u8], annex_b: bool, codec: ffmpeg::codec::Id) -> Option<u8> {
    let nal_type = |nal: &[u8]| -> Option<u8> {
        let header = *nal.first()?;
        match codec {
            ffmpeg::codec::Id::H264 => Some(header & 0x1f).filter(|t| (1..=5).contains(t)),
            ffmpeg::codec::Id::HEVC => Some((header >> 1) & 0x3f).filter(|t| *t <= 31),
            _ => None,
        }
    };
    if annex_b {
        return super::super::codecs::annex_b_nal_units(data).find_map(nal_type);
    }
    let mut rest = data;
    while rest.len() >= 4 {
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let nal = rest.get(4..4 + len)?;
        if let Some(t) = nal_type(nal) {
            return Some(t);
        }
        rest = &rest[4 + len..];
    }
    None
}

pub(super) fn stream_facts(stream: &ffmpeg::format::stream::Stream) -> StreamFacts {
    let params = stream.parameters();
    // SAFETY: `params` wraps the stream's AVCodecParameters, valid while the
    // stream's context is; only plain fields are copied out.
    let (width, height, transfer, tag) = unsafe {
        let p = &*params.as_ptr();
        (p.width, p.height, p.color_trc, p.codec_tag)
    };
    let rate = |r: ffmpeg::Rational| (r.numerator() > 0 && r.denominator() > 0).then(|| f64::from(r));
    StreamFacts {
        codec_string: codec_string_from_parameters(&params),
        sample_entry: (tag != 0).then(|| String::from_utf8_lossy(&tag.to_le_bytes()).into_owned()),
        is_hevc: params.id() == ffmpeg::codec::Id::HEVC,
        width: width.max(0) as u32,
        height: height.max(0) as u32,
        frame_rate: rate(stream.avg_frame_rate()).or_else(|| rate(stream.rate())),
        nominal_frame_rate: rate(stream.rate()),
        range: VideoRange::from_transfer(transfer.into()),
    }
}
