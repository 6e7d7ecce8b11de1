//! BBC audiowaveform's waveform data files: binary `.dat` (versions 1 and 2)
//! and the JSON form, written byte for byte as audiowaveform writes them.
//!
//! Source: bbc/audiowaveform `doc/DataFormat.md` (the format) and
//! `src/WaveformBuffer.cpp` (`WaveformBuffer::save` and `saveAsJson`, how
//! audiowaveform 1.10 writes it), commit 9edb233 (2025-08-24).
//!
//! `.dat` layout, all fields little-endian:
//!
//! | bytes | type | field |
//! |---|---|---|
//! | 0-3 | i32 | version: 1 for one channel, 2 for several |
//! | 4-7 | u32 | flags: bit 0 set for 8-bit values, clear for 16-bit |
//! | 8-11 | i32 | sample rate of the audio, Hz |
//! | 12-15 | i32 | samples per pixel (audio samples per min/max pair) |
//! | 16-19 | u32 | length: min/max pairs per channel |
//! | 20-23 | i32 | channels (version 2 only) |
//!
//! then, for each pixel, for each channel, the minimum and the maximum
//! (i8 or i16). Version 2 data therefore starts at byte 24, although the
//! byte-offset examples on that page say 20 (they were written for version 1).
//!
//! The JSON form is always version 2 with a `channels` field, its keys in
//! audiowaveform's order (`version`, `channels`, `sample_rate`,
//! `samples_per_pixel`, `bits`, `length`, `data`), compact, with one newline
//! at the end, exactly as `saveAsJson` prints it.

use crate::{EngineError, Result};
use serde::ser::{Serialize, Serializer};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Most channels a waveform may have: audiowaveform's
/// `WaveformBuffer::MAX_CHANNELS` (it refuses to generate or load more).
pub const MAX_CHANNELS: usize = 24;

/// Most (min, max) pairs a waveform may hold, over all channels
/// (`length × channels`): 16 Mi pairs, 64 MiB in memory, 32 MiB as 8-bit
/// `.dat`. That is about 24 hours of 48 kHz audio at the default 256
/// samples per pixel, mono. A request that would need more fails with
/// [`crate::EngineError::Usage`] instead of exhausting memory.
pub const MAX_POINTS: usize = 16 * 1024 * 1024;

/// Resolution of the stored min/max values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum Bits {
    /// -128..=127: the 16-bit value divided by 256, truncated toward zero
    /// (C++ integer division in `WaveformBuffer::save`: -255 becomes 0,
    /// -256 becomes -1). peaks.js reads only this resolution.
    #[default]
    Eight,
    /// -32768..=32767.
    Sixteen,
}

impl Bits {
    /// 8 or 16.
    pub fn value(self) -> u8 {
        match self {
            Bits::Eight => 8,
            Bits::Sixteen => 16,
        }
    }

    /// `Some` for 8 and 16, `None` for anything else.
    pub fn from_value(bits: u8) -> Option<Self> {
        match bits {
            8 => Some(Bits::Eight),
            16 => Some(Bits::Sixteen),
            _ => None,
        }
    }

    /// What one stored 16-bit value becomes at this resolution.
    fn scale(self, v: i16) -> i16 {
        match self {
            // Rust's integer division truncates toward zero, as C++'s does.
            Bits::Eight => v / 256,
            Bits::Sixteen => v,
        }
    }
}

impl From<Bits> for u8 {
    fn from(b: Bits) -> u8 {
        b.value()
    }
}

impl TryFrom<u8> for Bits {
    type Error = String;
    fn try_from(v: u8) -> std::result::Result<Self, String> {
        Bits::from_value(v).ok_or_else(|| format!("bits must be 8 or 16, not {v}"))
    }
}

/// Which of audiowaveform's two file forms to write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataFormat {
    /// Binary `.dat`, version 1 (one channel) or 2 (several).
    #[default]
    Dat,
    /// The JSON form (`.json`).
    Json,
}

impl DataFormat {
    /// From a file name's extension, case-insensitive: `.dat` or `.json`;
    /// `None` for anything else (audiowaveform picks the form the same way).
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "dat" => Some(DataFormat::Dat),
            "json" => Some(DataFormat::Json),
            _ => None,
        }
    }

    /// `dat` or `json`.
    pub fn extension(self) -> &'static str {
        match self {
            DataFormat::Dat => "dat",
            DataFormat::Json => "json",
        }
    }

    /// The HTTP `Content-Type` to serve it with.
    pub fn content_type(self) -> &'static str {
        match self {
            DataFormat::Dat => "application/octet-stream",
            DataFormat::Json => "application/json",
        }
    }
}

/// Waveform data: for every pixel (a run of `samples_per_pixel` audio
/// samples, the last one possibly shorter) and every channel, the minimum
/// and maximum sample value, kept at 16-bit precision and scaled to
/// [`Bits`] when written (as audiowaveform's `WaveformBuffer` does).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waveform {
    sample_rate: u32,
    samples_per_pixel: u32,
    channels: u16,
    bits: Bits,
    /// `[min, max]` per channel per pixel, pixel-major: pixel 0 channel 0,
    /// pixel 0 channel 1, ..., pixel 1 channel 0...
    data: Vec<i16>,
}

impl Waveform {
    /// Builds a waveform from its parts; `data` holds `[min, max]` per
    /// channel per pixel, pixel-major, at 16-bit precision.
    ///
    /// Errors: [`EngineError::Usage`] when `channels` is 0 or above
    /// [`MAX_CHANNELS`], `samples_per_pixel` is below 2 or above
    /// `i32::MAX`, `sample_rate` is 0 or above `i32::MAX` (the header fields
    /// are `int32_t`), or `data` is not a whole number of pixels.
    pub fn from_parts(
        sample_rate: u32,
        samples_per_pixel: u32,
        channels: u16,
        bits: Bits,
        data: Vec<i16>,
    ) -> Result<Self> {
        let max = i32::MAX as u32;
        if channels == 0 || usize::from(channels) > MAX_CHANNELS {
            return Err(EngineError::Usage(format!("a waveform has 1 to {} channels, not {channels}", MAX_CHANNELS)));
        }
        if !(2..=max).contains(&samples_per_pixel) {
            return Err(EngineError::Usage(format!("samples per pixel must be 2 or more, not {samples_per_pixel}")));
        }
        if sample_rate == 0 || sample_rate > max {
            return Err(EngineError::Usage(format!("invalid sample rate {sample_rate} Hz")));
        }
        if !data.len().is_multiple_of(2 * usize::from(channels)) {
            return Err(EngineError::Usage(format!(
                "{} values are not whole pixels of {channels} (min, max) pairs",
                data.len()
            )));
        }
        Ok(Waveform { sample_rate, samples_per_pixel, channels, bits, data })
    }

    /// Sample rate of the audio, Hz.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }
    /// Audio samples (per channel) per pixel.
    pub fn samples_per_pixel(&self) -> u32 {
        self.samples_per_pixel
    }
    /// Waveform channels: 1 for a mono mix, else the source's channel count.
    pub fn channels(&self) -> u16 {
        self.channels
    }
    /// Resolution the files are written at.
    pub fn bits(&self) -> Bits {
        self.bits
    }
    /// Changes the resolution the files are written at (the data keeps 16-bit precision).
    pub fn set_bits(&mut self, bits: Bits) {
        self.bits = bits;
    }
    /// Pixels: (min, max) pairs per channel (the header's `length`).
    pub fn length(&self) -> usize {
        self.data.len() / (2 * usize::from(self.channels))
    }
    /// The `.dat` version this waveform is written as: 1 for one channel, 2 for several.
    pub fn dat_version(&self) -> u32 {
        if self.channels == 1 { 1 } else { 2 }
    }
    /// Seconds of audio covered: `length × samples_per_pixel / sample_rate`
    /// (the last pixel counted whole).
    pub fn duration_seconds(&self) -> f64 {
        self.length() as f64 * f64::from(self.samples_per_pixel) / f64::from(self.sample_rate)
    }
    /// `(min, max)` of `channel` at `pixel`, at 16-bit precision; `None` out of range.
    pub fn point(&self, channel: u16, pixel: usize) -> Option<(i16, i16)> {
        if channel >= self.channels || pixel >= self.length() {
            return None;
        }
        let i = (pixel * usize::from(self.channels) + usize::from(channel)) * 2;
        Some((self.data[i], self.data[i + 1]))
    }
    /// All values at 16-bit precision, `[min, max]` per channel per pixel, pixel-major.
    pub fn data(&self) -> &[i16] {
        &self.data
    }

    /// Writes the `.dat` form (see the module documentation for the layout).
    ///
    /// Errors: those of `out`.
    pub fn write_dat<W: Write>(&self, out: &mut W) -> io::Result<()> {
        let version = self.dat_version();
        let flags: u32 = if self.bits == Bits::Eight { 1 } else { 0 };
        let mut header = Vec::with_capacity(24);
        header.extend_from_slice(&(version as i32).to_le_bytes());
        header.extend_from_slice(&flags.to_le_bytes());
        header.extend_from_slice(&(self.sample_rate as i32).to_le_bytes());
        header.extend_from_slice(&(self.samples_per_pixel as i32).to_le_bytes());
        header.extend_from_slice(&(self.length() as u32).to_le_bytes());
        if version == 2 {
            header.extend_from_slice(&i32::from(self.channels).to_le_bytes());
        }
        out.write_all(&header)?;
        let mut buf = Vec::with_capacity(64 * 1024);
        for chunk in self.data.chunks(32 * 1024) {
            buf.clear();
            match self.bits {
                Bits::Eight => buf.extend(chunk.iter().map(|&v| Bits::Eight.scale(v) as i8 as u8)),
                Bits::Sixteen => buf.extend(chunk.iter().flat_map(|v| v.to_le_bytes())),
            }
            out.write_all(&buf)?;
        }
        Ok(())
    }

    /// The `.dat` form in memory.
    pub fn to_dat(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write_dat(&mut v).expect("writing to a Vec cannot fail");
        v
    }

    /// Writes the JSON form (see the module documentation), serialized with
    /// `serde_json`: compact, keys in audiowaveform's order, one `\n` at the end.
    ///
    /// Errors: those of `out`.
    pub fn write_json<W: Write>(&self, out: &mut W) -> io::Result<()> {
        let doc = JsonForm {
            version: 2,
            channels: self.channels,
            sample_rate: self.sample_rate,
            samples_per_pixel: self.samples_per_pixel,
            bits: self.bits.value(),
            length: self.length(),
            data: Values { data: &self.data, bits: self.bits },
        };
        serde_json::to_writer(&mut *out, &doc).map_err(io::Error::other)?;
        out.write_all(b"\n")
    }

    /// The JSON form in memory.
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write_json(&mut v).expect("writing to a Vec cannot fail");
        v
    }

    /// Writes the file `path` in `format` and returns its size in bytes.
    /// The data goes to a temporary file beside it (`.NAME.PID-N.partial`),
    /// which is renamed onto `path` once complete, so a reader never sees a
    /// half-written file and a failed write leaves nothing behind.
    ///
    /// Errors: [`EngineError::OutputNotWritable`] when `path` exists and
    /// `overwrite` is false, or its folder is missing or not writable;
    /// [`EngineError::DiskFull`] on ENOSPC.
    pub fn save(&self, path: &Path, format: DataFormat, overwrite: bool) -> Result<u64> {
        if path.exists() && !overwrite {
            return Err(EngineError::OutputNotWritable {
                path: path.into(),
                cause: "already exists (use --overwrite to replace it)".into(),
            });
        }
        let tmp = partial_path(path);
        let written = (|| -> io::Result<u64> {
            let file = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            let mut w = io::BufWriter::with_capacity(256 * 1024, file);
            match format {
                DataFormat::Dat => self.write_dat(&mut w)?,
                DataFormat::Json => self.write_json(&mut w)?,
            }
            let file = w.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            let bytes = file.metadata()?.len();
            drop(file);
            std::fs::rename(&tmp, path)?;
            Ok(bytes)
        })();
        written.map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            if e.raw_os_error() == Some(libc::ENOSPC) {
                EngineError::DiskFull { path: path.into() }
            } else if e.kind() == io::ErrorKind::NotFound {
                EngineError::OutputNotWritable { path: path.into(), cause: "folder does not exist".into() }
            } else {
                EngineError::OutputNotWritable { path: path.into(), cause: e.to_string() }
            }
        })
    }
}

/// `.NAME.PID-N.partial` beside `path`.
fn partial_path(path: &Path) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.{}-{n}.partial", std::process::id()))
}

#[derive(serde::Serialize)]
struct JsonForm<'a> {
    version: u32,
    channels: u16,
    sample_rate: u32,
    samples_per_pixel: u32,
    bits: u8,
    length: usize,
    data: Values<'a>,
}

/// The data array, scaled to the output resolution while it is serialized.
struct Values<'a> {
    data: &'a [i16],
    bits: Bits,
}

impl Serialize for Values<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(self.data.iter().map(|&v| self.bits.scale(v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn le32(v: &[u8], at: usize) -> i32 {
        i32::from_le_bytes(v[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn eight_bit_values_truncate_toward_zero_like_audiowaveform() {
        let cases =
            [(32767, 127), (256, 1), (255, 0), (0, 0), (-1, 0), (-255, 0), (-256, -1), (-257, -1), (-32768, -128)];
        for (v, want) in cases {
            assert_eq!(Bits::Eight.scale(v), want, "{v}");
        }
    }

    #[test]
    fn mono_dat_is_version_1_with_a_20_byte_header() {
        let w = Waveform::from_parts(44100, 256, 1, Bits::Eight, vec![-300, 300, -32768, 32767, -255, 256]).unwrap();
        let dat = w.to_dat();
        let mut want = Vec::new();
        for v in [1i32, 1, 44100, 256, 3] {
            want.extend_from_slice(&v.to_le_bytes());
        }
        want.extend_from_slice(&[(-1i8) as u8, 1, (-128i8) as u8, 127, 0, 1]);
        assert_eq!(dat, want);

        let mut w16 = w.clone();
        w16.set_bits(Bits::Sixteen);
        let dat = w16.to_dat();
        assert_eq!(dat.len(), 20 + 6 * 2);
        assert_eq!(le32(&dat, 4), 0, "flags: bit 0 clear for 16-bit");
        assert_eq!(&dat[20..24], &[0xd4, 0xfe, 0x2c, 0x01], "-300, 300 little-endian");
        assert_eq!(&dat[24..28], &[0x00, 0x80, 0xff, 0x7f]);
    }

    #[test]
    fn multichannel_dat_is_version_2_with_channels_and_data_at_byte_24() {
        // 2 pixels × 2 channels: (ch0 min, ch0 max, ch1 min, ch1 max) per pixel.
        let data = vec![-512, 512, -1024, 1024, -2048, 2048, -4096, 4096];
        let w = Waveform::from_parts(48000, 512, 2, Bits::Eight, data).unwrap();
        let dat = w.to_dat();
        assert_eq!(dat.len(), 24 + 8);
        assert_eq!(
            [le32(&dat, 0), le32(&dat, 4), le32(&dat, 8), le32(&dat, 12), le32(&dat, 16), le32(&dat, 20)],
            [2, 1, 48000, 512, 2, 2]
        );
        let vals: Vec<i8> = dat[24..].iter().map(|&b| b as i8).collect();
        assert_eq!(vals, [-2, 2, -4, 4, -8, 8, -16, 16]);
        assert_eq!(w.point(1, 1), Some((-4096, 4096)));
        assert_eq!(w.point(2, 0), None);
    }

    #[test]
    fn json_matches_audiowaveform_byte_for_byte() {
        // The example of DataFormat.md, at 16-bit precision ×256.
        let vals: [i16; 12] = [-65, 63, -66, 64, -40, 41, -39, 45, -55, 43, -55, 44];
        let data = vals.iter().map(|v| v * 256).collect();
        let w = Waveform::from_parts(48000, 512, 2, Bits::Eight, data).unwrap();
        let json = String::from_utf8(w.to_json()).unwrap();
        assert_eq!(
            json,
            "{\"version\":2,\"channels\":2,\"sample_rate\":48000,\"samples_per_pixel\":512,\"bits\":8,\"length\":3,\
             \"data\":[-65,63,-66,64,-40,41,-39,45,-55,43,-55,44]}\n"
        );
        // Mono JSON is version 2 too, with channels 1 (saveAsJson always writes 2).
        let w = Waveform::from_parts(8000, 2, 1, Bits::Sixteen, vec![-3, 7]).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&w.to_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"version": 2, "channels": 1, "sample_rate": 8000,
            "samples_per_pixel": 2, "bits": 16, "length": 1, "data": [-3, 7]})
        );
    }

    #[test]
    fn empty_waveform_writes_a_header_only() {
        let w = Waveform::from_parts(48000, 256, 1, Bits::Eight, vec![]).unwrap();
        assert_eq!(w.to_dat().len(), 20);
        assert_eq!(le32(&w.to_dat(), 16), 0);
        assert!(String::from_utf8(w.to_json()).unwrap().ends_with("\"length\":0,\"data\":[]}\n"));
    }

    #[test]
    fn bad_parts_are_refused() {
        assert!(Waveform::from_parts(48000, 1, 1, Bits::Eight, vec![]).is_err(), "samples per pixel below 2");
        assert!(Waveform::from_parts(48000, 256, 0, Bits::Eight, vec![]).is_err());
        assert!(Waveform::from_parts(48000, 256, 25, Bits::Eight, vec![]).is_err());
        assert!(Waveform::from_parts(0, 256, 1, Bits::Eight, vec![]).is_err());
        assert!(Waveform::from_parts(48000, 256, 2, Bits::Eight, vec![1, 2]).is_err(), "half a pixel");
    }

    #[test]
    fn save_is_atomic_and_refuses_to_replace_without_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.dat");
        let w = Waveform::from_parts(48000, 256, 1, Bits::Eight, vec![-256, 256]).unwrap();
        assert_eq!(w.save(&path, DataFormat::Dat, false).unwrap(), 22);
        assert_eq!(std::fs::read(&path).unwrap(), w.to_dat());
        let err = w.save(&path, DataFormat::Json, false).unwrap_err();
        assert!(matches!(err, EngineError::OutputNotWritable { .. }), "{err}");
        w.save(&path, DataFormat::Json, true).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), w.to_json());
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["a.dat"], "no partial file left behind");
        let err = w.save(&dir.path().join("missing/a.dat"), DataFormat::Dat, false).unwrap_err();
        assert!(matches!(err, EngineError::OutputNotWritable { .. }), "{err}");
    }

    #[test]
    fn format_follows_the_extension() {
        assert_eq!(DataFormat::from_path(Path::new("x/song.DAT")), Some(DataFormat::Dat));
        assert_eq!(DataFormat::from_path(Path::new("song.json")), Some(DataFormat::Json));
        assert_eq!(DataFormat::from_path(Path::new("song.peaks")), None);
        assert_eq!(DataFormat::from_path(Path::new("song")), None);
    }
}
