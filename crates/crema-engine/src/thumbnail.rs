//! Poster frames: one decoded picture of a source, upright and square-pixel,
//! scaled to fit a box, as packed RGB for a UI thumbnail.

use crate::probe::{self, MediaInfo};
use crate::{EngineError, Result};
use ff::format::Pixel;
use ff::software::scaling::{Context as Scaler, Flags};
use ffmpeg_next as ff;
use std::path::Path;

/// A decoded picture: packed RGB, 3 bytes per pixel, rows top to bottom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RgbImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 3` bytes.
    pub data: Vec<u8>,
}

/// Decodes the first picture at or after 10% of the source's duration
/// (capped at 10 s in, so that long masters do not seek far) and returns it
/// turned upright (the display rotation applied), with square pixels, scaled
/// down to fit `max_width` × `max_height` (never up). Sizes are even.
///
/// Errors: [`EngineError::InputUnreadable`] / [`EngineError::InputUnsupported`]
/// when the file cannot be opened or has no decodable video stream.
pub fn poster_frame(path: &Path, max_width: u32, max_height: u32) -> Result<RgbImage> {
    let info: MediaInfo = probe::probe_facts(path, &crate::CancelFlag::new())?;
    let video = info.video.as_ref().ok_or_else(|| EngineError::InputUnsupported {
        path: path.into(),
        cause: "no video stream to take a picture from".into(),
    })?;
    let mut ictx = probe::open_input(path)?;
    let index = video.index;
    let stream = ictx.stream(index).ok_or_else(|| EngineError::Internal("video stream vanished".into()))?;
    let tb = stream.time_base();
    let mut ctx = ff::codec::context::Context::from_parameters(stream.parameters())
        .map_err(|e| EngineError::from_ffmpeg(path, None, "video decoder", e))?;
    // SAFETY: setting the packet time base before the decoder is opened.
    unsafe { (*ctx.as_mut_ptr()).pkt_timebase = tb.into() };
    let mut decoder = ctx.decoder().video().map_err(|e| EngineError::InputUnsupported {
        path: path.into(),
        cause: format!("cannot decode {} video: {e}", video.codec),
    })?;
    let target = (info.duration_seconds * 0.1).min(10.0);
    if target > 0.0 {
        let ts = (target * f64::from(ff::ffi::AV_TIME_BASE)) as i64;
        // Seeks to the keyframe at or before `ts`; a failed seek just decodes from the start.
        let _ = ictx.seek(ts, ..ts);
    }
    let mut frame = ff::frame::Video::empty();
    let mut got = false;
    'read: for (st, packet) in ictx.packets() {
        if st.index() != index {
            continue;
        }
        if decoder.send_packet(&packet).is_err() {
            continue;
        }
        if decoder.receive_frame(&mut frame).is_ok() {
            got = true;
            break 'read;
        }
    }
    if !got {
        let _ = decoder.send_eof();
        got = decoder.receive_frame(&mut frame).is_ok();
    }
    if !got {
        return Err(EngineError::InputUnsupported { path: path.into(), cause: "no picture could be decoded".into() });
    }
    // Square pixels: the display width follows the sample aspect ratio.
    let sar = frame.aspect_ratio();
    let sar = if sar.numerator() > 0 && sar.denominator() > 0 { f64::from(sar) } else { 1.0 };
    let (fw, fh) = (frame.width(), frame.height());
    let display_w = (f64::from(fw) * sar).round().max(2.0);
    let rotated = matches!(video.rotation, 90 | 270);
    // Fit the upright picture in the box, then scale the stored (unrotated) one.
    let (upright_w, upright_h) = if rotated { (f64::from(fh), display_w) } else { (display_w, f64::from(fh)) };
    let scale = (f64::from(max_width) / upright_w).min(f64::from(max_height) / upright_h).min(1.0);
    let even = |v: f64| ((v * scale / 2.0).round() as u32).max(1) * 2;
    let (out_w, out_h) = if rotated { (even(upright_h), even(upright_w)) } else { (even(upright_w), even(upright_h)) };
    let mut scaler = Scaler::get(frame.format(), fw, fh, Pixel::RGB24, out_w, out_h, Flags::BILINEAR)
        .map_err(|e| EngineError::from_ffmpeg(path, None, "scaler", e))?;
    let mut rgb = ff::frame::Video::empty();
    scaler.run(&frame, &mut rgb).map_err(|e| EngineError::from_ffmpeg(path, None, "scaler", e))?;
    let stride = rgb.stride(0);
    let plane = rgb.data(0);
    let mut data = Vec::with_capacity((out_w * out_h * 3) as usize);
    for row in 0..out_h as usize {
        data.extend_from_slice(&plane[row * stride..row * stride + out_w as usize * 3]);
    }
    let image = RgbImage { width: out_w, height: out_h, data };
    Ok(match video.rotation {
        90 => rotate(&image, true),
        270 => rotate(&image, false),
        180 => RgbImage { data: flip(&image), ..image },
        _ => image,
    })
}

/// Rotates a picture a quarter turn, clockwise or counter-clockwise.
fn rotate(img: &RgbImage, clockwise: bool) -> RgbImage {
    let (w, h) = (img.width as usize, img.height as usize);
    let mut data = vec![0u8; w * h * 3];
    for y in 0..h {
        for x in 0..w {
            // Destination is h wide and w tall.
            let (dx, dy) = if clockwise { (h - 1 - y, x) } else { (y, w - 1 - x) };
            let src = (y * w + x) * 3;
            let dst = (dy * h + dx) * 3;
            data[dst..dst + 3].copy_from_slice(&img.data[src..src + 3]);
        }
    }
    RgbImage { width: img.height, height: img.width, data }
}

/// Turns a picture half a turn.
fn flip(img: &RgbImage) -> Vec<u8> {
    img.data.chunks_exact(3).rev().flatten().copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img() -> RgbImage {
        // 2 wide, 1 tall: red, green.
        RgbImage { width: 2, height: 1, data: vec![255, 0, 0, 0, 255, 0] }
    }

    #[test]
    fn quarter_turns_move_pixels_where_a_player_shows_them() {
        let cw = rotate(&img(), true);
        assert_eq!((cw.width, cw.height), (1, 2));
        assert_eq!(cw.data, vec![255, 0, 0, 0, 255, 0], "clockwise: left pixel goes to the top");
        let ccw = rotate(&img(), false);
        assert_eq!(ccw.data, vec![0, 255, 0, 255, 0, 0], "counter-clockwise: right pixel goes to the top");
        assert_eq!(flip(&img()), vec![0, 255, 0, 255, 0, 0]);
    }
}
