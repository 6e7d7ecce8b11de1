//! Bringing both sides of a pair to one pixel format and the reference size.

use super::metrics::Plane;
use ff::format::Pixel;
use ff::software::scaling::{Context as Scaler, Flags};
use ffmpeg_next as ff;

/// The format and size both frames of every pair are scored in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    /// Width in pixels (the reference's).
    pub width: u32,
    /// Height in pixels (the reference's).
    pub height: u32,
    /// Planar YUV format: 4:2:0, 4:2:2 or 4:4:4 at 8, 10, 12 or 16 bits.
    pub pixel: Pixel,
    /// Bits per sample.
    pub bits: u32,
    /// log2 of the horizontal and vertical chroma subsampling.
    pub log2_chroma: (u32, u32),
}

/// Facts of one pixel format from FFmpeg's descriptor.
struct FormatFacts {
    depth: u32,
    log2_w: u32,
    log2_h: u32,
    gray: bool,
}

fn facts(pixel: Pixel) -> Option<FormatFacts> {
    let desc = pixel.descriptor()?;
    // SAFETY: the descriptor pointer comes from av_pix_fmt_desc_get and is static.
    let depth = unsafe { (*desc.as_ptr()).comp[0].depth } as u32;
    Some(FormatFacts {
        depth,
        log2_w: u32::from(desc.log2_chroma_w()),
        log2_h: u32::from(desc.log2_chroma_h()),
        gray: desc.nb_components() <= 2,
    })
}

impl Target {
    /// The target for a pair: the reference's size; the coarser chroma
    /// subsampling of the two (a 4:2:2 master against a 4:2:0 encode is
    /// compared in 4:2:0, never by inventing chroma); the higher bit depth
    /// (an 8-bit encode of a 10-bit master is compared in 10 bits).
    ///
    /// Errors: a cause in words when a format is unknown to FFmpeg.
    /// The size is the reference's, or the distorted frame's with `at_distorted_size`.
    pub fn for_pair(
        reference: &ff::frame::Video,
        distorted: &ff::frame::Video,
        at_distorted_size: bool,
    ) -> Result<Self, String> {
        let r = facts(reference.format()).ok_or("the reference's pixel format is unknown")?;
        let d = facts(distorted.format()).ok_or("the distorted video's pixel format is unknown")?;
        // Gray and RGB formats carry no subsampling of their own: they follow the other side.
        let sub = |f: &FormatFacts| (!f.gray).then_some((f.log2_w, f.log2_h));
        let (w, h) = match (sub(&r), sub(&d)) {
            (Some(a), Some(b)) => (a.0.max(b.0), a.1.max(b.1)),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => (1, 1),
        };
        let log2_chroma = match (w, h) {
            (0, 0) => (0, 0),
            (1, 0) => (1, 0),
            _ => (1, 1),
        };
        let bits = match r.depth.max(d.depth) {
            0..=8 => 8,
            9..=10 => 10,
            11..=12 => 12,
            _ => 16,
        };
        let pixel = match (log2_chroma, bits) {
            ((1, 1), 8) => Pixel::YUV420P,
            ((1, 1), 10) => Pixel::YUV420P10LE,
            ((1, 1), 12) => Pixel::YUV420P12LE,
            ((1, 1), _) => Pixel::YUV420P16LE,
            ((1, 0), 8) => Pixel::YUV422P,
            ((1, 0), 10) => Pixel::YUV422P10LE,
            ((1, 0), 12) => Pixel::YUV422P12LE,
            ((1, 0), _) => Pixel::YUV422P16LE,
            (_, 8) => Pixel::YUV444P,
            (_, 10) => Pixel::YUV444P10LE,
            (_, 12) => Pixel::YUV444P12LE,
            _ => Pixel::YUV444P16LE,
        };
        let size = if at_distorted_size { distorted } else { reference };
        Ok(Self { width: size.width(), height: size.height(), pixel, bits, log2_chroma })
    }

    /// Width and height of plane `i` (0 = luma), rounded up as FFmpeg does.
    pub fn plane_size(&self, i: usize) -> (usize, usize) {
        let (sw, sh) = if i == 0 { (0, 0) } else { self.log2_chroma };
        (self.width.div_ceil(1 << sw) as usize, self.height.div_ceil(1 << sh) as usize)
    }

    /// The three planes of `frame`, which must be in this target's format and size.
    pub fn planes<'a>(&self, frame: &'a ff::frame::Video) -> [Plane<'a>; 3] {
        std::array::from_fn(|i| {
            let (width, height) = self.plane_size(i);
            Plane { data: frame.data(i), stride: frame.stride(i), width, height }
        })
    }
}

/// Converts one side's frames into a [`Target`], reusing its swscale
/// context while the input format and size stay the same.
#[derive(Default)]
pub(crate) struct Converter {
    scaler: Option<Scaler>,
    out: Option<ff::frame::Video>,
}

// SAFETY: the swscale context and the frame are owned by this converter and
// only used through `&mut self`; libswscale keeps no thread-bound state.
unsafe impl Send for Converter {}

impl Converter {
    /// `frame` in the target format and size: the frame itself when it
    /// already is, else a converted copy (bicubic scaling when the size differs).
    ///
    /// Errors: a cause in words when swscale refuses the conversion.
    pub fn convert<'a>(
        &'a mut self,
        frame: &'a ff::frame::Video,
        target: &Target,
    ) -> Result<&'a ff::frame::Video, String> {
        if frame.format() == target.pixel && frame.width() == target.width && frame.height() == target.height {
            return Ok(frame);
        }
        let fits = self.scaler.as_ref().is_some_and(|s| {
            let i = s.input();
            i.format == frame.format() && i.width == frame.width() && i.height == frame.height()
        });
        if !fits {
            let scaler = Scaler::get(
                frame.format(),
                frame.width(),
                frame.height(),
                target.pixel,
                target.width,
                target.height,
                Flags::BICUBIC,
            )
            .map_err(|e| {
                format!(
                    "cannot convert {}x{} {:?} to {}x{} {:?}: {e}",
                    frame.width(),
                    frame.height(),
                    frame.format(),
                    target.width,
                    target.height,
                    target.pixel
                )
            })?;
            self.scaler = Some(scaler);
            self.out = Some(ff::frame::Video::new(target.pixel, target.width, target.height));
        }
        let (scaler, out) = (self.scaler.as_mut().expect("set above"), self.out.as_mut().expect("set above"));
        scaler.run(frame, out).map_err(|e| format!("scaling failed: {e}"))?;
        Ok(out)
    }
}
