//! Pure planning: output dimensions, the HLS ladder and its bit-rate caps,
//! and the filter graph description. No FFmpeg calls, so all of it is unit
//! tested without media.

use crate::media::VideoStream;
use crate::profile::VideoCodec;

/// Display size of a video stream after rotation and with square pixels:
/// the coded size, widened by the sample aspect ratio, swapped for 90°/270°.
/// `sar` is (num, den); (0, x) or (x, 0) mean square pixels.
pub fn display_size(width: u32, height: u32, sar: (i32, i32), rotation: i32) -> (u32, u32) {
    let w = if sar.0 > 0 && sar.1 > 0 && sar.0 != sar.1 {
        (f64::from(width) * f64::from(sar.0) / f64::from(sar.1)).round() as u32
    } else {
        width
    };
    if rotation.rem_euclid(180) == 90 { (height, w) } else { (w, height) }
}

/// Output size for a display size and an optional target height (pixels):
/// scale down only (a larger target keeps the source height), keep the
/// aspect ratio, both dimensions even (4:2:0 chroma needs it).
pub fn output_size(display: (u32, u32), target_height: Option<u32>) -> (u32, u32) {
    let (dw, dh) = display;
    let h = target_height.map_or(dh, |t| t.min(dh));
    let h = (h & !1).max(2);
    let w = (f64::from(dw) * f64::from(h) / f64::from(dh) / 2.0).round() as u32 * 2;
    (w.max(2), h)
}

/// Peak bit rate for an H.264 HLS rung of `height` pixels, in kbit/s: the
/// `/v1` contract's default ladder (1080: 5000, 720: 2500, 480: 1000,
/// 360: 600) extended with the Apple HLS Authoring Specification's
/// example ladder values for other heights (§2.3), linear in between.
pub fn h264_rung_peak_kbps(height: u32) -> u32 {
    const TABLE: &[(u32, u32)] = &[
        (144, 200),
        (240, 400),
        (360, 600),
        (480, 1000),
        (540, 1600),
        (720, 2500),
        (1080, 5000),
        (1440, 9000),
        (2160, 16000),
        (4320, 48000),
    ];
    let h = height.clamp(TABLE[0].0, TABLE[TABLE.len() - 1].0);
    for pair in TABLE.windows(2) {
        let ((h0, k0), (h1, k1)) = (pair[0], pair[1]);
        if h <= h1 {
            let f = f64::from(h - h0) / f64::from(h1 - h0);
            return (f64::from(k0) + f * f64::from(k1 - k0)).round() as u32;
        }
    }
    TABLE[TABLE.len() - 1].1
}

/// Peak bit rate for a rung in kbit/s: H.264 as [`h264_rung_peak_kbps`],
/// HEVC 35% lower (the `/v1` contract: "HEVC rungs may use about 35% less").
pub fn rung_peak_kbps(codec: VideoCodec, height: u32) -> u32 {
    let k = h264_rung_peak_kbps(height);
    match codec {
        VideoCodec::H264 => k,
        VideoCodec::Hevc => (f64::from(k) * 0.65).round() as u32,
    }
}

/// The rungs to encode: requested heights that are not taller than the
/// source's display height, deduplicated, tallest first, each with its even
/// width. When every requested rung is taller than the source, or only one
/// of several is left, a rung at the source height is added on top so the
/// package is never empty and stays adaptive. Returns the
/// rungs and the heights dropped.
pub fn ladder(display: (u32, u32), requested: &[u32]) -> (Vec<(u32, u32)>, Vec<u32>) {
    let mut heights: Vec<u32> = requested.to_vec();
    heights.sort_unstable_by(|a, b| b.cmp(a));
    heights.dedup();
    let (keep, dropped): (Vec<u32>, Vec<u32>) = heights.into_iter().partition(|h| *h <= display.1);
    let mut rungs: Vec<(u32, u32)> = keep.into_iter().map(|h| output_size(display, Some(h))).collect();
    rungs.dedup_by_key(|r| r.1);
    // An adaptive ladder needs at least two variants (Apple HLS Authoring
    // Spec §9.9): when dropping taller rungs leaves fewer than two of a
    // multi-rung request, the source height becomes the top rung.
    let source = output_size(display, None);
    if rungs.is_empty() || (requested.len() > 1 && rungs.len() < 2 && rungs[0].1 < source.1) {
        rungs.insert(0, source);
    }
    (rungs, dropped)
}

/// What the common part of the video filter chain (before the per-output
/// split) must do.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoFilters {
    /// Deinterlace (source field order is not progressive).
    pub deinterlace: bool,
    /// Clockwise rotation to apply (0, 90, 180, 270).
    pub rotation: i32,
}

impl VideoFilters {
    /// Decides the common filters for `video`.
    pub fn for_source(video: &VideoStream) -> Self {
        let deinterlace = !matches!(video.field_order.as_str(), "progressive" | "unknown");
        Self { deinterlace, rotation: video.rotation.rem_euclid(360) }
    }

    /// The common chain as FFmpeg filter descriptions, in order.
    ///
    /// - Deinterlacing: `bwdif` in `send_frame` mode (one frame per frame,
    ///   frame rate and timing unchanged).
    /// - Rotation: `transpose=clock` for 90°, `transpose=cclock` for 270°,
    ///   `hflip,vflip` for 180°, as the `ffmpeg` command line's autorotate.
    pub fn chain(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.deinterlace {
            out.push("bwdif=mode=send_frame:parity=auto:deint=all".to_string());
        }
        match self.rotation {
            90 => out.push("transpose=clock".into()),
            180 => out.extend(["hflip".to_string(), "vflip".to_string()]),
            270 => out.push("transpose=cclock".into()),
            _ => {}
        }
        out
    }
}

/// PQ/HLG → BT.709 SDR tone mapping: linearise with zscale (100 cd/m²
/// nominal peak), convert primaries to BT.709 in linear light, Hable curve,
/// then BT.709 transfer and matrix, limited range. Applied per output, after
/// scaling, so that 10-bit HDR outputs of the same source stay untouched.
pub const TONE_MAP: &[&str] = &[
    "zscale=t=linear:npl=100",
    "format=gbrpf32le",
    "zscale=p=bt709",
    "tonemap=tonemap=hable:desat=0",
    "zscale=t=bt709:m=bt709:r=tv",
];

/// One output branch of the video filter graph.
#[derive(Clone, Debug, PartialEq)]
pub struct SinkFilter<'a> {
    /// Output width in pixels.
    pub width: u32,
    /// Output height in pixels.
    pub height: u32,
    /// Pixel format name the encoder takes (`yuv420p`, `p010le`).
    pub pix_fmt: &'a str,
    /// Tone-map this output to SDR (8-bit output of an HDR source).
    pub tone_map: bool,
}

/// Where each output branch of the filter graph scales from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scaling {
    /// Every output scales from the (deinterlaced, rotated) source frame:
    /// what `ffmpeg -filter_complex "split=N…"` written by hand does.
    Direct,
    /// Outputs of the same pixel format and tone mapping form a cascade,
    /// largest first: the largest converts (and tone-maps) from the source,
    /// every other one scales from the next larger output's frames (already
    /// converted, and smaller) when it is no wider and no taller, except that
    /// no output is more than [`MAX_CASCADE_STEPS`] resizes from the largest:
    /// one that would be scales from the largest itself. For a 4-rung ladder
    /// of a 10-bit 4:2:2 1080p source that is one 10→8-bit 4:2:0 conversion
    /// at 1080p, then 1080→720→480 and 1080→360 in 8-bit 4:2:0, instead of
    /// four scalings of the 10-bit 4:2:2 source: about 40% less scaling CPU
    /// time, with every rung within 0.2 VMAF of direct scaling (measured in
    /// docs/benchmarks.md, where 1080→720→480→360 lost 0.57 VMAF at 360p).
    Cascaded,
}

/// Most resizes between an output and the output of its cascade that
/// converts from the source ([`Scaling::Cascaded`]): a third bicubic step
/// (1080→720→480→360) cost 0.57 VMAF at 360p, two cost at most 0.13.
pub const MAX_CASCADE_STEPS: usize = 2;

/// For each sink, the sink it scales from (`None`: the source), under `scaling`.
fn scale_parents(sinks: &[SinkFilter], scaling: Scaling) -> Vec<Option<usize>> {
    let mut parents = vec![None; sinks.len()];
    if scaling == Scaling::Direct {
        return parents;
    }
    let area = |s: &SinkFilter| u64::from(s.width) * u64::from(s.height);
    let fits = |q: &SinkFilter, s: &SinkFilter| {
        q.pix_fmt == s.pix_fmt && q.tone_map == s.tone_map && q.width >= s.width && q.height >= s.height
    };
    let mut order: Vec<usize> = (0..sinks.len()).collect();
    // Stable: of equal sizes the first listed is the one the others scale from.
    order.sort_by_key(|&i| std::cmp::Reverse(area(&sinks[i])));
    // Resizes from the output that converts from the source (0 for that one).
    let mut steps = vec![0usize; sinks.len()];
    for (k, &i) in order.iter().enumerate() {
        let s = &sinks[i];
        let above = order[..k].iter().rev().copied().find(|&p| fits(&sinks[p], s));
        let parent = match above {
            Some(p) if steps[p] >= MAX_CASCADE_STEPS => {
                // Too many resizes down the cascade: scale from its top instead.
                order[..k].iter().copied().find(|&q| parents[q].is_none() && fits(&sinks[q], s))
            }
            other => other,
        };
        if let Some(p) = parent {
            steps[i] = steps[p] + 1;
        }
        parents[i] = parent;
    }
    parents
}

/// The whole video filter graph for one input and `sinks` outputs. Input
/// pad `in`, output pads `out0..outN`. Each branch scales with bicubic
/// swscale to square pixels and limited (TV) range, the range every output
/// is tagged with, tone-maps when asked, and converts to the encoder's pixel
/// format; where it scales from is `scaling`'s choice ([`Scaling`]). A
/// branch scaled from another output's frames is not tone-mapped again
/// (its parent was, or neither is).
pub fn graph_spec(common: &[String], sinks: &[SinkFilter], scaling: Scaling) -> String {
    let parents = scale_parents(sinks, scaling);
    let tail = |i: usize| {
        let s = &sinks[i];
        let tone = if s.tone_map && parents[i].is_none() { format!(",{}", TONE_MAP.join(",")) } else { String::new() };
        format!("scale={}:{}:flags=bicubic:out_range=tv,setsar=1{tone},format={}", s.width, s.height, s.pix_fmt)
    };
    let children = |p: Option<usize>| -> Vec<usize> { (0..sinks.len()).filter(|&i| parents[i] == p).collect() };
    // A branch's output, split when other branches scale from it.
    let pads = |i: usize| {
        let kids = children(Some(i));
        if kids.is_empty() {
            format!("[out{i}]")
        } else {
            let labels: String = kids.iter().map(|k| format!("[c{k}]")).collect();
            format!(",split={}[out{i}]{labels}", kids.len() + 1)
        }
    };
    let head = if common.is_empty() { "null".to_string() } else { common.join(",") };
    let roots = children(None);
    let mut spec = if let [only] = roots[..] {
        format!("[in]{head},{}{}", tail(only), pads(only))
    } else {
        let labels: String = roots.iter().map(|i| format!("[s{i}]")).collect();
        let mut spec = format!("[in]{head},split={}{labels}", roots.len());
        for &i in &roots {
            spec.push_str(&format!(";[s{i}]{}{}", tail(i), pads(i)));
        }
        spec
    };
    for i in (0..sinks.len()).filter(|&i| parents[i].is_some()) {
        spec.push_str(&format!(";[c{i}]{}{}", tail(i), pads(i)));
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_size_applies_rotation_and_sar() {
        assert_eq!(display_size(1280, 720, (1, 1), 90), (720, 1280));
        assert_eq!(display_size(1280, 720, (0, 1), 180), (1280, 720));
        assert_eq!(display_size(720, 576, (64, 45), 0), (1024, 576));
        assert_eq!(display_size(1920, 1080, (1, 1), 270), (1080, 1920));
    }

    #[test]
    fn output_size_never_upscales_and_stays_even() {
        assert_eq!(output_size((1920, 1080), Some(720)), (1280, 720));
        assert_eq!(output_size((854, 480), Some(1080)), (854, 480));
        assert_eq!(output_size((720, 1280), Some(480)), (270, 480));
        assert_eq!(output_size((768, 432), Some(360)), (640, 360));
        assert_eq!(output_size((853, 481), None), (852, 480));
        let (w, h) = output_size((1024, 576), Some(361));
        assert!(w % 2 == 0 && h == 360);
    }

    #[test]
    fn ladder_drops_rungs_taller_than_the_source() {
        let (r, dropped) = ladder((1280, 720), &[1080, 720, 480, 360]);
        assert_eq!(r, vec![(1280, 720), (854, 480), (640, 360)]);
        assert_eq!(dropped, vec![1080]);
        let (r, dropped) = ladder((320, 240), &[1080, 720]);
        assert_eq!(r, vec![(320, 240)]);
        assert_eq!(dropped, vec![1080, 720]);
        let (r, _) = ladder((768, 432), &[1080, 720, 480, 360]);
        assert_eq!(r, vec![(768, 432), (640, 360)]);
        let (r, _) = ladder((1920, 1080), &[720]);
        assert_eq!(r, vec![(1280, 720)]);
        let (r, _) = ladder((720, 1280), &[360, 720, 360]);
        assert_eq!(r, vec![(406, 720), (202, 360)]);
    }

    #[test]
    fn rung_bitrates_follow_the_contract() {
        for (h, k) in [(1080, 5000), (720, 2500), (480, 1000), (360, 600)] {
            assert_eq!(rung_peak_kbps(VideoCodec::H264, h), k);
        }
        assert_eq!(rung_peak_kbps(VideoCodec::Hevc, 1080), 3250);
        let mid = h264_rung_peak_kbps(900);
        assert!(mid > 2500 && mid < 5000);
        assert_eq!(h264_rung_peak_kbps(100), 200);
    }

    fn video(field_order: &str, rotation: i32, hdr: Option<&str>) -> VideoStream {
        VideoStream::test_1080p25(field_order, rotation, hdr)
    }

    #[test]
    fn filter_chain_covers_deinterlace_and_rotation() {
        let f = VideoFilters::for_source(&video("tt", 90, None));
        assert_eq!(f.chain(), vec!["bwdif=mode=send_frame:parity=auto:deint=all", "transpose=clock"]);
        assert_eq!(VideoFilters::for_source(&video("progressive", 270, None)).chain(), vec!["transpose=cclock"]);
        assert_eq!(VideoFilters::for_source(&video("progressive", 180, None)).chain(), vec!["hflip", "vflip"]);
        assert!(VideoFilters::for_source(&video("progressive", 0, Some("pq"))).chain().is_empty());
    }

    fn sink(width: u32, height: u32, pix_fmt: &str, tone_map: bool) -> SinkFilter<'_> {
        SinkFilter { width, height, pix_fmt, tone_map }
    }

    #[test]
    fn graph_spec_splits_once_and_tone_maps_only_the_sdr_branches() {
        let one = graph_spec(&[], &[sink(1280, 720, "yuv420p", false)], Scaling::Direct);
        assert_eq!(one, "[in]null,scale=1280:720:flags=bicubic:out_range=tv,setsar=1,format=yuv420p[out0]");
        let two = graph_spec(
            &["transpose=clock".into()],
            &[sink(720, 1280, "yuv420p10le", false), sink(360, 640, "yuv420p", true)],
            Scaling::Cascaded,
        );
        assert!(two.starts_with("[in]transpose=clock,split=2[s0][s1];[s0]scale=720:1280"));
        let (hdr, sdr) = two.split_once(";[s1]").unwrap();
        assert!(!hdr.contains("tonemap"));
        assert!(sdr.contains("setsar=1,zscale=t=linear") && sdr.contains("tonemap=tonemap=hable"));
        assert!(sdr.ends_with("format=yuv420p[out1]"));
    }

    #[test]
    fn a_cascaded_ladder_converts_once_and_resizes_each_rung_at_most_twice() {
        let rungs = [
            sink(1920, 1080, "yuv420p", false),
            sink(1280, 720, "yuv420p", false),
            sink(854, 480, "yuv420p", false),
            sink(640, 360, "yuv420p", false),
        ];
        let spec = graph_spec(&["bwdif".into()], &rungs, Scaling::Cascaded);
        assert_eq!(
            spec,
            "[in]bwdif,scale=1920:1080:flags=bicubic:out_range=tv,setsar=1,format=yuv420p,split=3[out0][c1][c3];\
             [c1]scale=1280:720:flags=bicubic:out_range=tv,setsar=1,format=yuv420p,split=2[out1][c2];\
             [c2]scale=854:480:flags=bicubic:out_range=tv,setsar=1,format=yuv420p[out2];\
             [c3]scale=640:360:flags=bicubic:out_range=tv,setsar=1,format=yuv420p[out3]"
        );
        let direct = graph_spec(&["bwdif".into()], &rungs, Scaling::Direct);
        assert!(direct.starts_with("[in]bwdif,split=4[s0][s1][s2][s3];[s0]scale=1920:1080"), "{direct}");
        assert!(!direct.contains("[c"), "{direct}");
    }

    #[test]
    fn a_cascade_joins_only_outputs_of_the_same_format_and_tone_mapping() {
        // An HDR source: a 10-bit file and an SDR ladder listed smallest first.
        let sinks = [
            sink(3840, 2160, "p010le", false),
            sink(640, 360, "yuv420p", true),
            sink(1920, 1080, "yuv420p", true),
            sink(1280, 720, "yuv420p", true),
        ];
        assert_eq!(scale_parents(&sinks, Scaling::Cascaded), [None, Some(3), None, Some(2)]);
        let spec = graph_spec(&[], &sinks, Scaling::Cascaded);
        assert!(spec.starts_with("[in]null,split=2[s0][s2];[s0]scale=3840:2160"), "{spec}");
        // Tone mapping runs once, on the largest SDR output; the others scale its SDR frames.
        assert_eq!(spec.matches("tonemap=hable").count(), 1, "{spec}");
        assert!(spec.contains(";[s2]scale=1920:1080:flags=bicubic:out_range=tv,setsar=1,zscale"), "{spec}");
        assert!(spec.contains(";[c1]scale=640:360:flags=bicubic:out_range=tv,setsar=1,format=yuv420p[out1]"), "{spec}");
        assert!(spec.contains("format=yuv420p,split=2[out2][c3];"), "{spec}");
        assert!(
            spec.ends_with(";[c3]scale=1280:720:flags=bicubic:out_range=tv,setsar=1,format=yuv420p,split=2[out3][c1]")
        );
        // An 8-rung ladder: a third step goes back to the top (1080 → 576 here).
        let heights = [1080, 900, 720, 576, 480, 360, 240, 144];
        let eight: Vec<SinkFilter> = heights.iter().map(|&h| sink(h * 16 / 9, h, "yuv420p", false)).collect();
        assert_eq!(
            scale_parents(&eight, Scaling::Cascaded),
            [None, Some(0), Some(1), Some(0), Some(3), Some(0), Some(5), Some(0)]
        );
        // A portrait rung is never scaled from a wider but shorter landscape one.
        let mixed = [sink(1280, 720, "yuv420p", false), sink(406, 720, "yuv420p", false)];
        assert_eq!(scale_parents(&mixed, Scaling::Cascaded), [None, Some(0)]);
        let odd = [sink(1280, 720, "yuv420p", false), sink(720, 1280, "yuv420p", false)];
        assert_eq!(scale_parents(&odd, Scaling::Cascaded), [None, None]);
    }
}
