//! Picture-size limits, checked before anything is decoded.
//!
//! Two limits apply to every encode:
//!
//! - **Output**: every picture Crema writes (the single file after
//!   `target_height`, each HLS rung) must fit the largest level of its codec,
//!   level 6.2, so that any conforming decoder may play it. H.265 (§A.4.1,
//!   Table A.8): at most 35,651,584 luma samples (MaxLumaPs) and each
//!   dimension at most √(8 × MaxLumaPs) = 16,888 pixels. H.264 (§A.3.1,
//!   Table A-1): at most 139,264 macroblocks (MaxFS, the same 35,651,584
//!   samples) and each dimension at most √(8 × MaxFS) = 1,055 macroblocks
//!   (16,880 pixels). A source larger than that is fine when the output is
//!   scaled down to fit.
//! - **Source**: a sanity limit on the decoded picture ([`SourceLimits`],
//!   by default twice the level-6.2 picture and 32,768 pixels a side), which
//!   bounds what one decoded frame may cost (a 71-megapixel 4:2:2 10-bit
//!   frame is 285 MB, and decoders hold several). It is also handed to
//!   libavcodec as `max_pixels` when a file is probed, so a file that merely
//!   declares a huge picture is never decoded at that size.
//!
//! Both are refused with [`EngineError::PictureTooLarge`].

use std::path::Path;

use crate::error::EngineError;
pub use crate::levels::{
    H264_MAX_DIMENSION_MBS, H264_MAX_FRAME_MBS, HEVC_MAX_DIMENSION, HEVC_MAX_LUMA_PS, JOB_MAX_OUTPUT_SAMPLES,
    SourceLimits, set_source_limits, source_limits,
};
use crate::plan;
use crate::profile::VideoCodec;

fn megapixels(w: u32, h: u32) -> String {
    format!("{:.1} megapixels", f64::from(w) * f64::from(h) / 1e6)
}

/// Refuses a source whose coded picture (`width` × `height`, pixels) is
/// beyond `limits`.
///
/// Errors: [`EngineError::PictureTooLarge`] naming the size and the limit.
pub fn check_source(input: &Path, width: u32, height: u32, limits: SourceLimits) -> Result<(), EngineError> {
    let samples = u64::from(width) * u64::from(height);
    if width <= limits.max_dimension && height <= limits.max_dimension && samples <= limits.max_samples {
        return Ok(());
    }
    Err(EngineError::PictureTooLarge {
        path: input.to_path_buf(),
        width,
        height,
        cause: format!(
            "the source picture is {width}x{height} ({}); Crema decodes pictures up to {} pixels a side and {:.1} megapixels",
            megapixels(width, height),
            limits.max_dimension,
            limits.max_samples as f64 / 1e6
        ),
    })
}

/// Whether `codec` at level 6.2 can carry a `width` × `height` picture.
pub fn fits_level(codec: VideoCodec, width: u32, height: u32) -> bool {
    match codec {
        VideoCodec::Hevc => {
            width <= HEVC_MAX_DIMENSION
                && height <= HEVC_MAX_DIMENSION
                && u64::from(width) * u64::from(height) <= HEVC_MAX_LUMA_PS
        }
        VideoCodec::H264 => {
            let (mw, mh) = (width.div_ceil(16), height.div_ceil(16));
            mw <= H264_MAX_DIMENSION_MBS
                && mh <= H264_MAX_DIMENSION_MBS
                && u64::from(mw) * u64::from(mh) <= H264_MAX_FRAME_MBS
        }
    }
}

fn level_words(codec: VideoCodec) -> &'static str {
    match codec {
        VideoCodec::Hevc => {
            "HEVC level 6.2 (at most 35,651,584 luma samples and 16,888 pixels a side, H.265 Table A.8)"
        }
        VideoCodec::H264 => {
            "H.264 level 6.2 (at most 139,264 macroblocks and 1,055 macroblocks a side, H.264 Table A-1)"
        }
    }
}

/// The tallest output height (even, at most `display`'s height and
/// [`crate::request::MAX_HEIGHT`]) whose picture at `display`'s aspect
/// ratio fits `codec`'s level, if any.
pub fn largest_fitting_height(codec: VideoCodec, display: (u32, u32)) -> Option<u32> {
    let top = display.1.min(crate::request::MAX_HEIGHT) & !1;
    let fits = |h: u32| {
        let (w, h) = plan::output_size(display, Some(h));
        fits_level(codec, w, h)
    };
    // Output width grows with the height: binary search over even heights.
    let (mut lo, mut hi) = (1u32, top / 2);
    if hi == 0 || !fits(2) {
        return None;
    }
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if fits(mid * 2) { lo = mid } else { hi = mid - 1 }
    }
    Some(lo * 2)
}

/// Refuses an output picture (`what`: "the output", "HLS rung 720p") of
/// `width` × `height` pixels that `codec`'s level 6.2 cannot carry.
///
/// Errors: [`EngineError::PictureTooLarge`], with the largest height that
/// would fit when there is one.
pub fn check_output(
    input: &Path,
    what: &str,
    codec: VideoCodec,
    (width, height): (u32, u32),
    display: (u32, u32),
) -> Result<(), EngineError> {
    if fits_level(codec, width, height) {
        return Ok(());
    }
    let hint = match largest_fitting_height(codec, display) {
        Some(h) => format!("; ask for a target height of at most {h}p"),
        None => "; no output height of this aspect ratio fits".to_string(),
    };
    Err(EngineError::PictureTooLarge {
        path: input.to_path_buf(),
        width,
        height,
        cause: format!(
            "{what} would be {width}x{height} ({}), beyond {}{hint}",
            megapixels(width, height),
            level_words(codec)
        ),
    })
}

/// The pictures one job writes, per frame: the single file's size and
/// codec, and the HLS rungs' sizes and codec.
#[derive(Clone, Debug, Default)]
pub struct JobPictures {
    /// The single file: codec and (width, height), pixels.
    pub file: Option<(VideoCodec, (u32, u32))>,
    /// The ladder's codec and its rungs' (width, height), pixels.
    pub rungs: Option<(VideoCodec, Vec<(u32, u32)>)>,
}

/// Checks every output picture of a job of a `display`-sized source
/// against its codec's level ([`check_output`]) and their sum against
/// [`JOB_MAX_OUTPUT_SAMPLES`]. Returns that sum, luma samples
/// per frame.
///
/// Errors: [`EngineError::PictureTooLarge`].
pub fn check_job(input: &Path, display: (u32, u32), pictures: &JobPictures) -> Result<u64, EngineError> {
    let mut total = 0u64;
    if let Some((codec, size)) = pictures.file {
        check_output(input, "the output", codec, size, display)?;
        total += u64::from(size.0) * u64::from(size.1);
    }
    if let Some((codec, rungs)) = &pictures.rungs {
        for &(w, h) in rungs {
            check_output(input, &format!("HLS rung {h}p"), *codec, (w, h), display)?;
            total += u64::from(w) * u64::from(h);
        }
    }
    let max = JOB_MAX_OUTPUT_SAMPLES;
    if total > max {
        let (width, height) = display;
        return Err(EngineError::PictureTooLarge {
            path: input.to_path_buf(),
            width,
            height,
            cause: format!(
                "the outputs asked for add up to {:.1} megapixels per frame, more than one job encodes ({:.1}); ask for fewer or smaller rungs",
                total as f64 / 1e6,
                max as f64 / 1e6
            ),
        });
    }
    Ok(total)
}

/// The picture checks [`crate::encode::run`] makes before decoding, from
/// a probe alone, for a caller that refuses a job when it is submitted
/// (`POST /v1/jobs`): the source limit, then each output (`file_codec` with
/// `target_height`, the ladder's codec with its rung heights) against level
/// 6.2 and [`JOB_MAX_OUTPUT_SAMPLES`]. The probe has no
/// sample aspect ratio, so anamorphic sources are checked at their coded
/// width (the encode checks the exact size again). A probe without video
/// passes (the encode refuses it for that reason).
///
/// Errors: [`EngineError::PictureTooLarge`].
pub fn check_probed(
    input: &Path,
    info: &crate::media::MediaInfo,
    file_codec: Option<VideoCodec>,
    target_height: Option<u32>,
    hls: Option<(VideoCodec, &[u32])>,
) -> Result<(), EngineError> {
    let Some(v) = &info.video else { return Ok(()) };
    check_picture(input, (v.width, v.height, v.rotation), file_codec, target_height, hls)
}

/// [`check_probed`] from recorded facts: the coded `(width, height)` in
/// pixels and the rotation in degrees clockwise (0, 90, 180, 270), as
/// [`crate::media::VideoStream`] has them.
///
/// Errors: [`EngineError::PictureTooLarge`].
pub fn check_picture(
    input: &Path,
    (width, height, rotation): (u32, u32, i32),
    file_codec: Option<VideoCodec>,
    target_height: Option<u32>,
    hls: Option<(VideoCodec, &[u32])>,
) -> Result<(), EngineError> {
    check_source(input, width, height, source_limits())?;
    let display = plan::display_size(width, height, (1, 1), rotation);
    let pictures = JobPictures {
        file: file_codec.map(|c| (c, plan::output_size(display, target_height))),
        rungs: hls.map(|(c, heights)| (c, plan::ladder(display, heights).0)),
    };
    check_job(input, display, &pictures).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_6_2_limits_of_both_codecs() {
        // 8K UHD and DCI 8K fit both; 8192x8192 fits neither (67 MP).
        for codec in [VideoCodec::Hevc, VideoCodec::H264] {
            assert!(fits_level(codec, 7680, 4320));
            assert!(fits_level(codec, 8192, 4320));
            assert!(!fits_level(codec, 8192, 8192));
        }
        // Each dimension: 16888 (HEVC) vs 1055 macroblocks = 16880 (H.264).
        assert!(fits_level(VideoCodec::Hevc, 16_888, 2000));
        assert!(!fits_level(VideoCodec::Hevc, 16_890, 2000));
        assert!(fits_level(VideoCodec::H264, 16_880, 2000));
        assert!(!fits_level(VideoCodec::H264, 16_888, 2000));
        assert_eq!(HEVC_MAX_DIMENSION, (8.0 * HEVC_MAX_LUMA_PS as f64).sqrt() as u32);
        assert_eq!(H264_MAX_DIMENSION_MBS, (8.0 * H264_MAX_FRAME_MBS as f64).sqrt() as u32);
        assert_eq!(H264_MAX_FRAME_MBS * 256, HEVC_MAX_LUMA_PS);
    }

    #[test]
    fn the_largest_fitting_height_is_suggested() {
        // Square 8192x8192: 5970x5970 would fit the samples, capped at 4320p.
        assert_eq!(largest_fitting_height(VideoCodec::Hevc, (8192, 8192)), Some(4320));
        // A 40000x1000 panorama: width ≤ 16888 means height ≤ 422.
        let h = largest_fitting_height(VideoCodec::Hevc, (40_000, 1000)).unwrap();
        assert!(fits_level(VideoCodec::Hevc, plan::output_size((40_000, 1000), Some(h)).0, h));
        assert!(!fits_level(VideoCodec::Hevc, plan::output_size((40_000, 1000), Some(h + 2)).0, h + 2));
        assert_eq!(largest_fitting_height(VideoCodec::Hevc, (1920, 1080)), Some(1080));
        let e =
            check_output(Path::new("in.mov"), "the output", VideoCodec::Hevc, (8192, 8192), (8192, 8192)).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("8192x8192") && msg.contains("level 6.2") && msg.contains("at most 4320p"), "{msg}");
        assert_eq!(e.code(), "picture_too_large");
    }

    #[test]
    fn a_job_is_checked_rung_by_rung_and_in_total() {
        let input = Path::new("pano.mov");
        // A 40000x2000 panorama: the 720p H.264 rung would be 14400 wide (fits),
        // the 1440p one 28800 (beyond 1055 macroblocks a side).
        let display = (40_000, 2000);
        let rungs = |hs: &[u32]| JobPictures {
            file: None,
            rungs: Some((VideoCodec::H264, hs.iter().map(|&h| plan::output_size(display, Some(h))).collect())),
        };
        assert_eq!(check_job(input, display, &rungs(&[720, 360])).unwrap(), 14_400 * 720 + 7_200 * 360);
        let e = check_job(input, display, &rungs(&[1440, 720])).unwrap_err().to_string();
        assert!(e.contains("HLS rung 1440p would be 28800x1440") && e.contains("H.264 level 6.2"), "{e}");
        // Four 8K UHD outputs (132.7 MP) are more than one job writes.
        let big = JobPictures {
            file: Some((VideoCodec::Hevc, (7680, 4320))),
            rungs: Some((VideoCodec::Hevc, vec![(7680, 4320); 3])),
        };
        let e = check_job(input, (7680, 4320), &big).unwrap_err().to_string();
        assert!(e.contains("add up to 132.7 megapixels"), "{e}");
    }

    #[test]
    fn source_limit_refuses_15000_square_and_accepts_8192_square() {
        let d = SourceLimits::default();
        assert!(check_source(Path::new("a"), 8192, 8192, d).is_ok());
        assert!(check_source(Path::new("a"), 12_288, 5_120, d).is_ok());
        let msg = check_source(Path::new("a"), 15_000, 15_000, d).unwrap_err().to_string();
        assert!(msg.contains("15000x15000") && msg.contains("225.0 megapixels"), "{msg}");
        assert!(check_source(Path::new("a"), 40_000, 100, d).is_err());
        let small = SourceLimits { max_dimension: 4096, max_samples: 4096 * 2160 };
        assert!(check_source(Path::new("a"), 3840, 2160, small).is_ok());
        assert!(check_source(Path::new("a"), 7680, 4320, small).is_err());
    }
}
