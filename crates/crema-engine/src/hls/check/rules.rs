//! Every rule the checker enforces ([`RULES`]), each with a stable id and
//! the clause of RFC 8216 or Apple's HLS Authoring Specification it comes from.

/// A rule the checker enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Stable short id (`"variant.bandwidth-peak"`), for scripts and tests.
    pub id: &'static str,
    /// The clause it comes from (`"RFC 8216 §4.3.3.1"`, `"Apple HLS Authoring Spec 7.4"`).
    pub spec: &'static str,
    /// What the rule requires, in one line.
    pub summary: &'static str,
}

macro_rules! rules {
    ($($name:ident = ($id:literal, $spec:literal, $summary:literal);)*) => {
        $(pub(super) const $name: Rule = Rule { id: $id, spec: $spec, summary: $summary };)*
        /// Every rule [`super::check_package`] enforces, in the order it checks them.
        pub const RULES: &[Rule] = &[$($name),*];
    };
}

rules! {
    MASTER_PARSE = (
        "master.parse",
        "RFC 8216 §4.1, §4.3.4",
        "master.m3u8 exists and parses as a master playlist"
    );
    MASTER_INDEPENDENT = (
        "master.independent-segments",
        "Apple HLS Authoring Spec 9.11; RFC 8216 §4.3.5.1",
        "the master playlist carries EXT-X-INDEPENDENT-SEGMENTS"
    );
    MASTER_VARIANTS = (
        "master.variants",
        "Apple HLS Authoring Spec 9.9",
        "the master playlist offers multiple bit rates of video (at least two variants)"
    );
    VARIANT_PLAYLIST = (
        "variant.playlist",
        "RFC 8216 §4.3.4.2",
        "every variant URI names a media playlist inside the package"
    );
    VARIANT_CODECS_MISSING = (
        "variant.codecs-missing",
        "Apple HLS Authoring Spec 9.1; RFC 8216 §4.3.4.2",
        "every EXT-X-STREAM-INF has CODECS"
    );
    VARIANT_RESOLUTION_MISSING = (
        "variant.resolution-missing",
        "Apple HLS Authoring Spec 9.2; RFC 8216 §4.3.4.2",
        "every EXT-X-STREAM-INF with video has RESOLUTION"
    );
    VARIANT_FRAME_RATE_MISSING = (
        "variant.frame-rate-missing",
        "Apple HLS Authoring Spec 9.15",
        "every EXT-X-STREAM-INF with video has FRAME-RATE"
    );
    VARIANT_AVERAGE_BANDWIDTH_MISSING = (
        "variant.average-bandwidth-missing",
        "Apple HLS Authoring Spec 9.14",
        "every EXT-X-STREAM-INF has AVERAGE-BANDWIDTH"
    );
    VARIANT_BANDWIDTH_PEAK = (
        "variant.bandwidth-peak",
        "RFC 8216 §4.3.4.2; Apple HLS Authoring Spec 9.13",
        "BANDWIDTH is at least the measured peak segment bit rate of video + audio (1% rounding allowed)"
    );
    VARIANT_BANDWIDTH_OVERSTATED = (
        "variant.bandwidth-overstated",
        "Apple HLS Authoring Spec 1.27",
        "BANDWIDTH is within 10% of the measured peak bit rate (VOD)"
    );
    VARIANT_AVERAGE_BANDWIDTH = (
        "variant.average-bandwidth",
        "Apple HLS Authoring Spec 1.26; RFC 8216 §4.3.4.2",
        "AVERAGE-BANDWIDTH is within 10% of the measured average segment bit rate of video + audio (VOD)"
    );
    VARIANT_CODECS = (
        "variant.codecs-mismatch",
        "RFC 8216 §4.3.4.2; RFC 6381 §3.3; ISO/IEC 14496-15 Annex E",
        "CODECS lists exactly the formats the segments contain, with their real profile and level"
    );
    VARIANT_SAMPLE_ENTRY = (
        "variant.sample-entry",
        "Apple HLS Authoring Spec 1.10",
        "parameter sets live in the sample description: avc1/hvc1, not avc3/hev1"
    );
    VARIANT_RESOLUTION = (
        "variant.resolution-mismatch",
        "RFC 8216 §4.3.4.2",
        "RESOLUTION equals the coded size of the video"
    );
    VARIANT_FRAME_RATE = (
        "variant.frame-rate-mismatch",
        "RFC 8216 §4.3.4.2",
        "FRAME-RATE is the video's maximum frame rate: its rate, or for variable rates between the average and the base rate"
    );
    VARIANT_VIDEO_RANGE = (
        "variant.video-range",
        "Apple HLS Authoring Spec 9.16",
        "VIDEO-RANGE is present for PQ/HLG video and matches the stream's transfer characteristics"
    );
    VARIANT_AUDIO_GROUP = (
        "variant.audio-group",
        "RFC 8216 §4.3.4.2",
        "AUDIO names the GROUP-ID of an EXT-X-MEDIA tag with TYPE=AUDIO"
    );
    VARIANT_AUDIO_MISSING = (
        "variant.audio-missing",
        "RFC 8216 §4.3.4.2.1",
        "when the package has audio renditions, every variant references their group (else it plays silent)"
    );
    AUDIO_LANGUAGE = (
        "audio.language",
        "Apple HLS Authoring Spec 8.10; RFC 8216 §4.3.4.1",
        "every audio EXT-X-MEDIA has LANGUAGE"
    );
    AUDIO_CODEC = (
        "audio.codec",
        "Apple HLS Authoring Spec 2.3",
        "the audio rendition is AAC (AAC-LC, HE-AAC v1 or v2)"
    );
    MEDIA_PARSE = (
        "media.parse",
        "RFC 8216 §4.1, §4.3.3",
        "every media playlist exists and parses"
    );
    MEDIA_NO_SEGMENTS = (
        "media.no-segments",
        "RFC 8216 §4.3.3",
        "a VOD media playlist lists at least one segment"
    );
    MEDIA_PLAYLIST_TYPE = (
        "media.playlist-type",
        "Apple HLS Authoring Spec 8.6; RFC 8216 §4.3.3.5",
        "every media playlist carries EXT-X-PLAYLIST-TYPE:VOD"
    );
    MEDIA_ENDLIST = (
        "media.endlist",
        "RFC 8216 §4.3.3.4",
        "every VOD media playlist ends with EXT-X-ENDLIST"
    );
    MEDIA_TARGET_DURATION = (
        "media.target-duration",
        "RFC 8216 §4.3.3.1",
        "every EXTINF rounded to the nearest integer is at most EXT-X-TARGETDURATION"
    );
    MEDIA_TARGET_MISMATCH = (
        "media.target-duration-mismatch",
        "RFC 8216 §6.2.4; Apple HLS Authoring Spec 8.2",
        "all audio and video media playlists have the same EXT-X-TARGETDURATION"
    );
    MEDIA_VERSION = (
        "media.version",
        "RFC 8216 §7",
        "EXT-X-VERSION is at least what the playlist's tags need (6 for EXT-X-MAP)"
    );
    MEDIA_MAP = (
        "media.map-missing",
        "RFC 8216 §3.3; Apple HLS Authoring Spec 8.20",
        "every fMP4 segment has an EXT-X-MAP initialization section"
    );
    MEDIA_EXTINF_ACCURACY = (
        "media.extinf-accuracy",
        "Apple HLS Authoring Spec 8.1",
        "the EXTINF durations add up to the real media time within one video frame"
    );
    MEDIA_DURATION_MISMATCH = (
        "media.duration-mismatch",
        "Apple HLS Authoring Spec 8.3, 8.7",
        "all media playlists cover the same duration (video rungs within a frame, audio within 0.5 s)"
    );
    SEGMENT_MISSING = (
        "segment.missing",
        "RFC 8216 §3, §4.3.2",
        "every segment the playlist lists exists"
    );
    SEGMENT_EMPTY = (
        "segment.empty",
        "RFC 8216 §3",
        "every segment holds media (is not empty; its byte range lies inside the file)"
    );
    SEGMENT_UNREADABLE = (
        "segment.unreadable",
        "RFC 8216 §3",
        "every video segment, with its initialization section, demuxes and holds video"
    );
    SEGMENT_IDR = (
        "segment.idr-start",
        "Apple HLS Authoring Spec 7.4",
        "every video segment starts with a key frame (IDR)"
    );
    SEGMENT_DURATION = (
        "segment.duration",
        "Apple HLS Authoring Spec 7.6",
        "segments are nominally the target duration: no segment but the last is shorter than half of it"
    );
    SEGMENT_HEVC_CONTAINER = (
        "segment.hevc-container",
        "Apple HLS Authoring Spec 1.5",
        "HEVC video is carried in fMP4, not MPEG-TS"
    );
    ALIGN_SEGMENT_COUNT = (
        "align.segment-count",
        "Apple HLS Authoring Spec 8.22; RFC 8216 §6.2.4",
        "every video rung has the same number of segments"
    );
    ALIGN_KEYFRAMES = (
        "align.keyframes",
        "Apple HLS Authoring Spec 8.22, 7.4; RFC 8216 §6.2.4",
        "segment N of every video rung starts at the same time and lasts as long, within one frame"
    );
}
