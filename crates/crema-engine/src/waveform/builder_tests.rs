//! Unit tests of [`WaveformBuilder`] on synthetic audio with known values.

use super::*;
use crate::waveform::{Bits, Resolution};
use ff::format::sample::Type;

fn opts(spp: u32, split: bool, bits: Bits) -> WaveformOptions {
    WaveformOptions { resolution: Resolution::SamplesPerPixel(spp), bits, split_channels: split }
}

fn le(vals: &[i32]) -> Vec<u8> {
    vals.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// 7 stereo frames, 3 per pixel: two full pixels and a partial one of 1 frame.
const STEREO: [i16; 14] = [
    1000, -3000, // mix: -1000
    -4, 3, // mix: (-1) / 2 = 0 (truncation toward zero; floor would give -1)
    30000, 32000, // mix: 31000
    -32768, -32768, // mix: -32768
    -513, 0, // mix: -256 (-256.5 truncated)
    32767, 32767, // mix: 32767
    -7, -8, // mix: -7 (-7.5 truncated), alone in the last pixel
];

#[test]
fn mono_mix_is_the_truncated_integer_mean_and_the_last_partial_pixel_counts() {
    let mut b = WaveformBuilder::new(&opts(3, false, Bits::Sixteen), 44100, 2).unwrap();
    b.push_interleaved(&STEREO).unwrap();
    assert_eq!(b.samples(), 7);
    let w = b.finish().unwrap();
    assert_eq!((w.channels(), w.length(), w.samples_per_pixel()), (1, 3, 3));
    assert_eq!(w.data(), [-1000, 31000, -32768, 32767, -7, -7]);

    // The whole .dat, byte for byte: version 1, 16-bit (flags 0).
    let mut want = le(&[1, 0, 44100, 3, 3]);
    for v in [-1000i16, 31000, -32768, 32767, -7, -7] {
        want.extend_from_slice(&v.to_le_bytes());
    }
    assert_eq!(w.to_dat(), want);

    // 8-bit: each value / 256 toward zero.
    let mut w8 = w.clone();
    w8.set_bits(Bits::Eight);
    let mut want = le(&[1, 1, 44100, 3, 3]);
    want.extend([-3i8, 121, -128, 127, 0, 0].iter().map(|&v| v as u8));
    assert_eq!(w8.to_dat(), want);
}

#[test]
fn split_channels_keep_each_channel_and_write_version_2() {
    let mut b = WaveformBuilder::new(&opts(3, true, Bits::Eight), 48000, 2).unwrap();
    // Fed in uneven pieces: pixel boundaries do not depend on frame sizes.
    b.push_interleaved(&STEREO[..2]).unwrap();
    b.push_interleaved(&STEREO[2..10]).unwrap();
    b.push_interleaved(&STEREO[10..]).unwrap();
    let w = b.finish().unwrap();
    assert_eq!((w.channels(), w.length(), w.dat_version()), (2, 3, 2));
    #[rustfmt::skip]
    let want16 = [
        -4, 30000, -3000, 32000, // pixel 0: ch0 (1000, -4, 30000), ch1 (-3000, 3, 32000)
        -32768, 32767, -32768, 32767, // pixel 1
        -7, -7, -8, -8, // pixel 2 (partial)
    ];
    assert_eq!(w.data(), want16);
    let mut want = le(&[2, 1, 48000, 3, 3, 2]);
    want.extend([0i8, 117, -11, 125, -128, 127, -128, 127, 0, 0, 0, 0].iter().map(|&v| v as u8));
    assert_eq!(w.to_dat(), want);
    assert_eq!(w.to_dat().len(), 24 + 12, "data starts at byte 24");
    let json: serde_json::Value = serde_json::from_slice(&w.to_json()).unwrap();
    assert_eq!(json["data"], serde_json::json!([0, 117, -11, 125, -128, 127, -128, 127, 0, 0, 0, 0]));
    assert_eq!(json["length"], 3);
    assert_eq!(json["channels"], 2);
}

#[test]
fn mono_source_split_is_still_version_1() {
    let mut b = WaveformBuilder::new(&opts(2, true, Bits::Eight), 8000, 1).unwrap();
    b.push_interleaved(&[5, -5, 700]).unwrap();
    let w = b.finish().unwrap();
    assert_eq!((w.channels(), w.dat_version(), w.length()), (1, 1, 2));
    assert_eq!(w.data(), [-5, 5, 700, 700]);
}

#[test]
fn no_samples_give_an_empty_waveform_and_partial_frames_are_refused() {
    let b = WaveformBuilder::new(&opts(256, false, Bits::Eight), 48000, 2).unwrap();
    assert_eq!(b.finish().unwrap().length(), 0);
    let mut b = WaveformBuilder::new(&opts(256, false, Bits::Eight), 48000, 2).unwrap();
    assert!(matches!(b.push_interleaved(&[1, 2, 3]), Err(EngineError::Usage(_))));
}

#[test]
fn options_are_checked_like_audiowaveform() {
    let o = WaveformOptions { resolution: Resolution::PixelsPerSecond(30000), ..Default::default() };
    assert!(matches!(WaveformBuilder::new(&o, 44100, 2), Err(EngineError::Usage(_))), "1 sample per pixel");
    let o = WaveformOptions { resolution: Resolution::PixelsPerSecond(20), ..Default::default() };
    assert_eq!(WaveformBuilder::new(&o, 44100, 2).unwrap().samples_per_pixel(), 2205);
    assert!(WaveformBuilder::new(&opts(256, true, Bits::Eight), 48000, 25).is_err(), "25 split channels");
    // The mono mix of many channels is fine.
    let mut b = WaveformBuilder::new(&opts(2, false, Bits::Sixteen), 48000, 32).unwrap();
    b.push_interleaved(&[320; 64]).unwrap();
    assert_eq!(b.finish().unwrap().data(), [320, 320]);
}

#[test]
fn the_point_bound_stops_an_oversized_waveform() {
    let mut b = WaveformBuilder::new(&opts(2, true, Bits::Eight), 48000, 2).unwrap();
    b.max_points = 6; // 3 pixels of 2 channels
    b.push_interleaved(&[0; 12]).unwrap();
    let err = b.push_interleaved(&[0; 4]).unwrap_err();
    assert!(matches!(err, EngineError::Usage(ref m) if m.contains("samples per pixel")), "{err}");
}

/// A frame of `format` with `channels` channels and the given per-channel values.
fn frame_of<T: ff::frame::audio::Sample + Copy>(format: Sample, per_channel: &[Vec<T>]) -> ff::frame::Audio {
    let channels = per_channel.len();
    let n = per_channel[0].len();
    // A mask of `channels` bits: FFmpeg has no default layout for some counts (10).
    let mut f = ff::frame::Audio::empty();
    f.set_channels(channels as u16);
    // SAFETY: allocates the buffers of an empty frame for the format, size and layout given.
    unsafe { f.alloc(format, n, ff::ChannelLayout::from_bits_truncate((1u64 << channels) - 1)) };
    assert_eq!(usize::from(f.channels()), channels);
    f.set_rate(48000);
    if format.is_planar() {
        for (c, vals) in per_channel.iter().enumerate() {
            f.plane_mut::<T>(c)[..n].copy_from_slice(vals);
        }
    } else {
        let plane = f.plane_mut::<T>(0);
        for i in 0..n {
            for c in 0..channels {
                plane[i * channels + c] = per_channel[c][i];
            }
        }
    }
    f
}

/// The 16-bit split waveform of one frame of 2 samples (one pixel per channel).
fn converted(frame: &ff::frame::Audio) -> Vec<i16> {
    let mut b = WaveformBuilder::new(&opts(2, true, Bits::Sixteen), 48000, frame.channels()).unwrap();
    b.push_frame(frame).unwrap();
    b.finish().unwrap().data().to_vec()
}

#[test]
fn float_samples_become_x_times_32767_truncated_and_saturated() {
    // Pairs of equal samples so every pixel holds one value.
    let vals = vec![0.5f32, 0.5, -0.5, -0.5, 1.0, 1.0, -1.0, -1.0, 1.5, 1.5, -1.5, -1.5, 0.00003, 0.00003];
    let want: Vec<i16> = vec![16383, -16383, 32767, -32767, 32767, -32768, 0];
    for format in [Sample::F32(Type::Packed), Sample::F32(Type::Planar)] {
        let frame = frame_of::<f32>(format, &[vals.clone(), vals.iter().map(|v| -v).collect()]);
        let mut b = WaveformBuilder::new(&opts(2, true, Bits::Sixteen), 48000, 2).unwrap();
        b.push_frame(&frame).unwrap();
        let w = b.finish().unwrap();
        let ch0: Vec<i16> = (0..w.length()).map(|i| w.point(0, i).unwrap().0).collect();
        let ch1: Vec<i16> = (0..w.length()).map(|i| w.point(1, i).unwrap().1).collect();
        assert_eq!(ch0, want, "{format:?}");
        assert_eq!(ch1, [-16383, 16383, -32767, 32767, -32768, 32767, 0], "{format:?}");
    }
    let dbl = frame_of::<f64>(Sample::F64(Type::Planar), &[vec![0.25, 0.25, -0.75, -0.75]]);
    let mut b = WaveformBuilder::new(&opts(2, false, Bits::Sixteen), 48000, 1).unwrap();
    b.push_frame(&dbl).unwrap();
    assert_eq!(b.finish().unwrap().data(), [8191, 8191, -24575, -24575]);
}

#[test]
fn integer_samples_convert_as_libsndfile_does() {
    let one = |w: &Waveform| -> Vec<i16> { (0..w.length()).map(|i| w.point(0, i).unwrap().0).collect() };
    let run = |frame: &ff::frame::Audio| {
        let mut b = WaveformBuilder::new(&opts(2, false, Bits::Sixteen), 48000, 1).unwrap();
        b.push_frame(frame).unwrap();
        b.finish().unwrap()
    };
    let u8f = frame_of::<u8>(Sample::U8(Type::Packed), &[vec![0, 0, 128, 128, 255, 255, 1, 1]]);
    assert_eq!(one(&run(&u8f)), [-32768, 0, 32512, -32512]);
    let s32 = frame_of::<i32>(
        Sample::I32(Type::Planar),
        &[vec![i32::MAX, i32::MAX, -1, -1, 65535, 65535, i32::MIN, i32::MIN]],
    );
    assert_eq!(one(&run(&s32)), [32767, -1, 0, -32768], ">> 16 is a floor");
    let s16 = frame_of::<i16>(Sample::I16(Type::Planar), &[vec![-12345, -12345]]);
    assert_eq!(one(&run(&s16)), [-12345]);
    // s16 packed stereo, mixed: (100 + -301) / 2 = -100 (truncated)
    let mut b = WaveformBuilder::new(&opts(2, false, Bits::Sixteen), 48000, 2).unwrap();
    b.push_frame(&frame_of::<i16>(Sample::I16(Type::Packed), &[vec![100, 100], vec![-301, -301]])).unwrap();
    assert_eq!(b.finish().unwrap().data(), [-100, -100]);
}

#[test]
fn planar_and_packed_frames_of_many_channels_agree() {
    // 10 channels: more than AVFrame.data holds, so planes come from extended_data.
    let per: Vec<Vec<f32>> = (0..10).map(|c| vec![c as f32 / 10.0, -(c as f32) / 20.0]).collect();
    let a = converted(&frame_of::<f32>(Sample::F32(Type::Planar), &per));
    let b = converted(&frame_of::<f32>(Sample::F32(Type::Packed), &per));
    assert_eq!(a, b);
    assert_eq!(a.len(), 20);
    assert_eq!(a[18..], [-14745, 29490], "channel 9: 0.9 and -0.45");
}

#[test]
fn a_channel_count_change_mid_stream_keeps_the_first_layout() {
    let mut b = WaveformBuilder::new(&opts(2, true, Bits::Sixteen), 48000, 2).unwrap();
    b.push_frame(&frame_of::<i16>(Sample::I16(Type::Planar), &[vec![10, 20], vec![-10, -20]])).unwrap();
    // Now 3 channels (the third is dropped), then 1 (the second counts as silence).
    b.push_frame(&frame_of::<i16>(Sample::I16(Type::Planar), &[vec![5, 6], vec![7, 8], vec![99, 99]])).unwrap();
    b.push_frame(&frame_of::<i16>(Sample::I16(Type::Planar), &[vec![-3, -4]])).unwrap();
    let w = b.finish().unwrap();
    assert_eq!(w.channels(), 2);
    assert_eq!(w.data(), [10, 20, -20, -10, 5, 6, 7, 8, -4, -3, 0, 0]);
    // The mono mix averages whatever each frame has.
    let mut b = WaveformBuilder::new(&opts(2, false, Bits::Sixteen), 48000, 2).unwrap();
    b.push_frame(&frame_of::<i16>(Sample::I16(Type::Packed), &[vec![10, 20], vec![-10, -20]])).unwrap();
    b.push_frame(&frame_of::<i16>(Sample::I16(Type::Planar), &[vec![30, 30], vec![60, 60], vec![90, 90]])).unwrap();
    assert_eq!(b.finish().unwrap().data(), [0, 0, 60, 60]);
}

#[test]
fn over_range_float_samples_are_mixed_before_they_are_clamped() {
    // A loud lossy master: one channel beyond full scale. Clamping each channel
    // first would give (32767 + 26213) / 2 = 29490; the mix comes first.
    let frame = frame_of::<f32>(Sample::F32(Type::Planar), &[vec![1.2, 1.2, 1.9, 1.9], vec![0.8, 0.8, 1.9, 1.9]]);
    let mut b = WaveformBuilder::new(&opts(2, false, Bits::Sixteen), 48000, 2).unwrap();
    b.push_frame(&frame).unwrap();
    // (39320 + 26213) / 2 = 32766; (62257 + 62257) / 2 clamps to 32767.
    assert_eq!(b.finish().unwrap().data(), [32766, 32766, 32767, 32767]);
    let mut b = WaveformBuilder::new(&opts(2, true, Bits::Sixteen), 48000, 2).unwrap();
    b.push_frame(&frame).unwrap();
    assert_eq!(b.finish().unwrap().data(), [32767, 32767, 26213, 26213, 32767, 32767, 32767, 32767]);
}
