//! RFC 6381 `codecs` strings computed from the real bitstream.
//!
//! The `CODECS` attribute of an `EXT-X-STREAM-INF` tag (RFC 8216 §4.3.4.2)
//! names every media format in the variant with the syntax of RFC 6381 §3.
//! A wrong string makes players (hls.js, Safari, smart TVs) skip the
//! variant, so Crema never composes it from the encoder settings: it reads
//! the profile, level and constraint flags from the parameter sets the
//! encoder actually produced (the stream's extradata).
//!
//! Accepted extradata shapes:
//!
//! - H.264: an `AVCDecoderConfigurationRecord` (`avcC`, ISO/IEC 14496-15
//!   §5.3.3.1; what the MP4/fMP4 demuxer returns) or Annex-B parameter sets
//!   with start codes (ITU-T H.264 Annex B; what libx264 produces with
//!   `AV_CODEC_FLAG_GLOBAL_HEADER` and what the MPEG-TS demuxer extracts).
//! - HEVC: an `HEVCDecoderConfigurationRecord` (`hvcC`, ISO/IEC 14496-15
//!   §8.3.3.1) or Annex-B VPS/SPS/PPS (ITU-T H.265 Annex B).
//! - AAC: the FFmpeg profile number, or an `AudioSpecificConfig`
//!   (ISO/IEC 14496-3 §1.6.2.1).

/// The RFC 6381 §3.3 string of an H.264 stream, `avc1.PPCCLL`: the
/// `profile_idc`, the constraint-flags byte and `level_idc` of the sequence
/// parameter set (ITU-T H.264 §7.3.2.1.1) as three hex bytes, e.g.
/// `avc1.640028` for High profile, level 4.0.
///
/// `extradata` is either an `avcC` record (first byte 1, ISO/IEC 14496-15
/// §5.3.3.1; bytes 1–3 copy the SPS fields) or Annex-B NAL units with start
/// codes, in which case the first SPS (NAL type 7) is used after removing
/// emulation-prevention bytes (H.264 §7.4.1). Returns `None` when no SPS can
/// be found. The sample-entry prefix is always `avc1` (parameter sets in the
/// sample description, as Apple HLS Authoring Spec 1.10 asks).
pub fn avc_codec_string(extradata: &[u8]) -> Option<String> {
    let (profile, constraints, level) = if extradata.first() == Some(&1) {
        // avcC: configurationVersion, AVCProfileIndication,
        // profile_compatibility, AVCLevelIndication.
        if extradata.len() < 4 {
            return None;
        }
        (extradata[1], extradata[2], extradata[3])
    } else {
        let sps = annex_b_nal_units(extradata).find(|nal| nal.first().is_some_and(|h| h & 0x1f == 7))?;
        let rbsp = unescape_rbsp(&sps[1..]);
        if rbsp.len() < 3 {
            return None;
        }
        (rbsp[0], rbsp[1], rbsp[2])
    };
    if profile == 0 {
        return None;
    }
    Some(format!("avc1.{profile:02X}{constraints:02X}{level:02X}"))
}

/// The ISO/IEC 14496-15 Annex E string of an HEVC stream in an `hvc1`
/// sample entry (parameter sets in the sample description, as Apple HLS
/// Authoring Spec 1.10 asks), built from `general_profile_tier_level`
/// (ITU-T H.265 §7.3.3):
///
/// `hvc1.{space}{profile_idc}.{compat}.{tier}{level_idc}.{c0}.{c1}...`
///
/// - `space`: nothing for `general_profile_space` 0, `A`/`B`/`C` for 1/2/3;
///   `profile_idc` in decimal;
/// - `compat`: the 32 `general_profile_compatibility_flag`s in reverse bit
///   order, hexadecimal without leading zeros;
/// - `tier`: `L` (Main tier) or `H` (High tier), then `general_level_idc` in
///   decimal (30 × the level number: 120 is level 4);
/// - then the six constraint-indicator bytes (from
///   `general_progressive_source_flag` on), each in hexadecimal, dot
///   separated, trailing zero bytes omitted.
///
/// Examples: `hvc1.1.6.L120.90` (Main, level 4), `hvc1.2.4.L120.90`
/// (Main 10). `extradata` is an `hvcC` record (first byte 1, ISO/IEC
/// 14496-15 §8.3.3.1, whose bytes 1–12 copy those SPS fields) or Annex-B
/// VPS/SPS/PPS with start codes, in which case the first SPS (NAL type 33)
/// is parsed after removing emulation-prevention bytes (`00 00 03`, H.265
/// §7.4.2). Returns `None` when no SPS can be found.
pub fn hevc_codec_string(extradata: &[u8]) -> Option<String> {
    let ptl: [u8; 12] = if extradata.first() == Some(&1) {
        // hvcC: configurationVersion, then the 12 bytes of
        // general_profile_space..general_level_idc.
        extradata.get(1..13)?.try_into().ok()?
    } else {
        let sps = annex_b_nal_units(extradata).find(|nal| nal.first().is_some_and(|h| (h >> 1) & 0x3f == 33))?;
        // Two-byte NAL unit header, then sps_video_parameter_set_id (4 bits),
        // sps_max_sub_layers_minus1 (3), sps_temporal_id_nesting_flag (1),
        // then profile_tier_level(): 12 bytes of general_* fields.
        let rbsp = unescape_rbsp(sps.get(2..)?);
        rbsp.get(1..13)?.try_into().ok()?
    };
    Some(hevc_string_from_ptl("hvc1", &ptl))
}

/// Formats the 12 bytes of `general_profile_space` .. `general_level_idc`
/// per ISO/IEC 14496-15 Annex E.
fn hevc_string_from_ptl(sample_entry: &str, ptl: &[u8; 12]) -> String {
    let space = match ptl[0] >> 6 {
        0 => "",
        1 => "A",
        2 => "B",
        _ => "C",
    };
    let tier = if ptl[0] & 0x20 != 0 { 'H' } else { 'L' };
    let profile_idc = ptl[0] & 0x1f;
    let compat = u32::from_be_bytes([ptl[1], ptl[2], ptl[3], ptl[4]]).reverse_bits();
    let level_idc = ptl[11];
    let mut out = format!("{sample_entry}.{space}{profile_idc}.{compat:X}.{tier}{level_idc}");
    let constraints = &ptl[5..11];
    let used = constraints.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    for byte in &constraints[..used] {
        out.push_str(&format!(".{byte:X}"));
    }
    out
}

/// The RFC 6381 §3.3 string of an AAC stream, `mp4a.40.{object type}`,
/// from FFmpeg's `AVCodecParameters.profile` (`FF_PROFILE_AAC_*`), whose
/// values are the MPEG-4 audio object type (ISO/IEC 14496-3 §1.5.1.1,
/// Table 1.17) minus one: LC (1) → `mp4a.40.2`, HE-AAC (4) → `mp4a.40.5`,
/// HE-AAC v2 (28) → `mp4a.40.29`. The MPEG-2 AAC profiles map to their
/// MPEG-4 object types; an unknown profile (`FF_PROFILE_UNKNOWN`, -99) is
/// reported as LC, the only profile FFmpeg's native AAC encoder writes.
pub fn aac_codec_string(profile: i32) -> String {
    let object_type = match profile {
        128 => 2, // FF_PROFILE_MPEG2_AAC_LOW
        131 => 5, // FF_PROFILE_MPEG2_AAC_HE
        p if (0..=94).contains(&p) => p + 1,
        _ => 2,
    };
    format!("mp4a.40.{object_type}")
}

/// The RFC 6381 §3.3 string `mp4a.40.{object type}` read from an MPEG-4
/// `AudioSpecificConfig` (ISO/IEC 14496-3 §1.6.2.1): the 5-bit
/// `audioObjectType`, with the escape value 31 followed by 6 more bits
/// (type 32 + n). Returns `None` for empty or truncated input.
pub fn aac_codec_string_from_config(audio_specific_config: &[u8]) -> Option<String> {
    let first = *audio_specific_config.first()?;
    let mut object_type = u32::from(first >> 3);
    if object_type == 31 {
        let second = *audio_specific_config.get(1)?;
        let ext = ((u32::from(first) & 0x07) << 3) | (u32::from(second) >> 5);
        object_type = 32 + ext;
    }
    if object_type == 0 {
        return None;
    }
    Some(format!("mp4a.40.{object_type}"))
}

/// The RFC 6381 string of a stream from its FFmpeg codec parameters (a
/// demuxed stream's `codecpar`, or `Parameters::from(&encoder)` after
/// opening an encoder with `AV_CODEC_FLAG_GLOBAL_HEADER`): H.264 and HEVC
/// from the extradata through [`avc_codec_string`] / [`hevc_codec_string`],
/// with the `avc3` / `hev1` prefix when the codec tag says the sample entry
/// is one of those; AAC from the profile (or the `AudioSpecificConfig` when
/// the profile is unknown). `None` for other codecs or unusable extradata.
pub fn codec_string_from_parameters(params: &ffmpeg_next::codec::Parameters) -> Option<String> {
    // SAFETY: `params` wraps a valid AVCodecParameters for its lifetime; the
    // extradata pointer and size are libavcodec's and are read, not kept.
    let (extradata, profile, tag) = unsafe {
        let p = &*params.as_ptr();
        let extradata = if p.extradata.is_null() || p.extradata_size <= 0 {
            &[][..]
        } else {
            std::slice::from_raw_parts(p.extradata, p.extradata_size as usize)
        };
        (extradata, p.profile, p.codec_tag.to_le_bytes())
    };
    use ffmpeg_next::codec::Id;
    match params.id() {
        Id::H264 => {
            avc_codec_string(extradata).map(|s| if &tag == b"avc3" { s.replacen("avc1", "avc3", 1) } else { s })
        }
        Id::HEVC => {
            hevc_codec_string(extradata).map(|s| if &tag == b"hev1" { s.replacen("hvc1", "hev1", 1) } else { s })
        }
        Id::AAC if profile >= 0 => Some(aac_codec_string(profile)),
        Id::AAC => Some(aac_codec_string_from_config(extradata).unwrap_or_else(|| aac_codec_string(profile))),
        _ => None,
    }
}

/// Splits an Annex-B byte stream (`00 00 01` or `00 00 00 01` start codes)
/// into NAL units, dropping trailing zero bytes (the `zero_byte` of the next
/// four-byte start code, `trailing_zero_8bits`).
pub(crate) fn annex_b_nal_units(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let ends: Vec<usize> = starts.iter().skip(1).map(|s| s - 3).chain(std::iter::once(data.len())).collect();
    starts.into_iter().zip(ends).filter_map(move |(s, e)| {
        let mut nal = &data[s..e.max(s)];
        while let [rest @ .., 0] = nal {
            nal = rest;
        }
        (!nal.is_empty()).then_some(nal)
    })
}

/// Removes emulation-prevention bytes: every `03` that follows two zero
/// bytes (H.264 §7.4.1, H.265 §7.4.2).
fn unescape_rbsp(nal_payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal_payload.len());
    let mut zeros = 0;
    for &b in nal_payload {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `avcC` from `ffmpeg -f lavfi -i testsrc2=s=1280x720:d=0.2 -c:v libx264
    /// -profile:v high -level 4.0 x.mp4` (libx264, FFmpeg 5.1).
    const X264_AVCC_HIGH_40: [u8; 47] = [
        0x01, 0x64, 0x00, 0x28, 0xff, 0xe1, 0x00, 0x1a, 0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb,
        0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x83, 0x19, 0x60, 0x01, 0x00,
        0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0, 0xfd, 0xf8, 0xf8, 0x00,
    ];

    /// The first 13 bytes of the `hvcC` libx265 3.5 writes for a 1280x720
    /// 25 fps Main encode (`-c:v libx265 -tag:v hvc1`), level 3.1 (93).
    const X265_HVCC_MAIN_HEAD: [u8; 13] =
        [0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5d];

    /// The same for `-pix_fmt yuv420p10le -profile:v main10`.
    const X265_HVCC_MAIN10_HEAD: [u8; 13] =
        [0x01, 0x02, 0x20, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5d];

    /// libx265's Main-profile VPS, SPS and PPS from that `hvcC`, as Annex-B
    /// with start codes; the SPS carries emulation-prevention bytes inside
    /// profile_tier_level (`00 00 03 00 90 00 00 03 00 00 03 00 5d`).
    const X265_ANNEX_B_MAIN: &[u8] = &[
        0x00, 0x00, 0x00, 0x01, // VPS
        0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
        0x03, 0x00, 0x5d, 0x95, 0x98, 0x09, //
        0x00, 0x00, 0x00, 0x01, // SPS
        0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x5d,
        0xa0, 0x02, 0x80, 0x80, 0x2d, 0x16, 0x59, 0x59, 0xa4, 0x93, 0x2b, 0xc0, 0x5a, 0x02, 0x00, 0x00, 0x03, 0x00,
        0x02, 0x00, 0x00, 0x03, 0x00, 0x32, 0x10, //
        0x00, 0x00, 0x01, // PPS (three-byte start code)
        0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40,
    ];

    #[test]
    fn avc_from_real_x264_avcc() {
        assert_eq!(avc_codec_string(&X264_AVCC_HIGH_40).as_deref(), Some("avc1.640028"));
    }

    #[test]
    fn avc_from_annex_b_sps_pps() {
        // The SPS and PPS of the avcC above, with four- and three-byte start codes.
        let mut annex_b = vec![0, 0, 0, 1];
        annex_b.extend_from_slice(&X264_AVCC_HIGH_40[8..8 + 0x1a]);
        annex_b.extend_from_slice(&[0, 0, 1]);
        annex_b.extend_from_slice(&X264_AVCC_HIGH_40[37..43]);
        assert_eq!(avc_codec_string(&annex_b).as_deref(), Some("avc1.640028"));
        // Constrained Baseline level 3.1 (constraint_set0+1 flags: 0xC0).
        let baseline = [0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01];
        assert_eq!(avc_codec_string(&baseline).as_deref(), Some("avc1.42C01F"));
    }

    #[test]
    fn avc_rejects_garbage() {
        assert_eq!(avc_codec_string(&[]), None);
        assert_eq!(avc_codec_string(&[0, 0, 1, 0x68, 0xeb]), None); // PPS only
        assert_eq!(avc_codec_string(&[1, 0x64]), None);
        assert_eq!(avc_codec_string(&[0xde, 0xad, 0xbe, 0xef]), None);
    }

    #[test]
    fn hevc_from_real_x265_hvcc() {
        assert_eq!(hevc_codec_string(&X265_HVCC_MAIN_HEAD).as_deref(), Some("hvc1.1.6.L93.90"));
        assert_eq!(hevc_codec_string(&X265_HVCC_MAIN10_HEAD).as_deref(), Some("hvc1.2.4.L93.90"));
    }

    #[test]
    fn hevc_from_annex_b_with_emulation_prevention() {
        assert_eq!(hevc_codec_string(X265_ANNEX_B_MAIN).as_deref(), Some("hvc1.1.6.L93.90"));
    }

    #[test]
    fn hevc_formatting_rules() {
        // Main 10, High tier, level 5.1 (153), profile space 0, B0 constraints.
        let ptl = [0x22, 0x20, 0, 0, 0, 0xb0, 0, 0, 0, 0, 0, 153];
        assert_eq!(hevc_string_from_ptl("hvc1", &ptl), "hvc1.2.4.H153.B0");
        // Profile space 1 ("A"), several constraint bytes with an inner zero,
        // trailing zero bytes dropped.
        let ptl = [0x44, 0x08, 0, 0, 0, 0x90, 0, 0x23, 0, 0, 0, 120];
        assert_eq!(hevc_string_from_ptl("hev1", &ptl), "hev1.A4.10.L120.90.0.23");
        // No constraint flags at all: the constraint part is omitted.
        let ptl = [0x01, 0x60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 93];
        assert_eq!(hevc_string_from_ptl("hvc1", &ptl), "hvc1.1.6.L93");
    }

    #[test]
    fn hevc_rejects_garbage() {
        assert_eq!(hevc_codec_string(&[]), None);
        assert_eq!(hevc_codec_string(&[1, 1, 0x60]), None);
        assert_eq!(hevc_codec_string(&[0, 0, 1, 0x40, 0x01, 0x0c]), None); // VPS only
    }

    #[test]
    fn aac_strings() {
        assert_eq!(aac_codec_string(1), "mp4a.40.2"); // FF_PROFILE_AAC_LOW
        assert_eq!(aac_codec_string(4), "mp4a.40.5"); // FF_PROFILE_AAC_HE
        assert_eq!(aac_codec_string(28), "mp4a.40.29"); // FF_PROFILE_AAC_HE_V2
        assert_eq!(aac_codec_string(-99), "mp4a.40.2"); // FF_PROFILE_UNKNOWN
        assert_eq!(aac_codec_string(128), "mp4a.40.2"); // FF_PROFILE_MPEG2_AAC_LOW
        // AudioSpecificConfig: LC 48 kHz stereo (0x11 0x90), HE-AAC, escape.
        assert_eq!(aac_codec_string_from_config(&[0x11, 0x90]).as_deref(), Some("mp4a.40.2"));
        assert_eq!(aac_codec_string_from_config(&[0x2b, 0x92]).as_deref(), Some("mp4a.40.5"));
        assert_eq!(aac_codec_string_from_config(&[0xf8, 0x20]).as_deref(), Some("mp4a.40.33"));
        assert_eq!(aac_codec_string_from_config(&[]), None);
    }
}
