//! PSNR and SSIM of two frames in the same planar YUV format, computed the
//! way FFmpeg's `psnr` and `ssim` filters compute them (libavfilter
//! `vf_psnr.c`, `vf_ssim.c`; the SSIM is x264's), so numbers agree with the
//! tools people already trust.

/// One plane of samples: 8-bit (`u8`) or more (`u16`, native endian).
#[derive(Clone, Copy)]
pub(crate) struct Plane<'a> {
    /// The plane's bytes, `stride` bytes per row, at least `height` rows.
    pub data: &'a [u8],
    /// Bytes from one row to the next.
    pub stride: usize,
    /// Samples per row.
    pub width: usize,
    /// Rows.
    pub height: usize,
}

impl Plane<'_> {
    fn row8(&self, y: usize) -> &[u8] {
        &self.data[y * self.stride..y * self.stride + self.width]
    }
    fn sample16(&self, x: usize, y: usize) -> u32 {
        let i = y * self.stride + 2 * x;
        u32::from(u16::from_ne_bytes([self.data[i], self.data[i + 1]]))
    }
}

/// PSNR and SSIM of one frame pair.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct FrameMetrics {
    /// PSNR of Y, Cb, Cr in dB, capped.
    pub psnr: [f64; 3],
    /// PSNR over all planes in dB, capped.
    pub psnr_all: f64,
    /// SSIM of Y, Cb, Cr.
    pub ssim: [f64; 3],
    /// SSIM over all planes.
    pub ssim_all: f64,
}

/// PSNR and SSIM of `a` against `b` (three planes each, same geometry),
/// samples of `bits` bits (8 = one byte per sample, else two).
pub(crate) fn frame_metrics(a: &[Plane; 3], b: &[Plane; 3], bits: u32) -> FrameMetrics {
    let max = f64::from((1u32 << bits) - 1);
    // libvmaf's psnr feature: psnr_max = 6 * bpc + 12 when no min_sse is set.
    let cap = f64::from(6 * bits + 12);
    let psnr_of = |mse: f64| if mse > 0.0 { (10.0 * (max * max / mse).log10()).min(cap) } else { cap };
    let total: f64 = a.iter().map(|p| (p.width * p.height) as f64).sum();
    let mut out = FrameMetrics { psnr: [0.0; 3], psnr_all: 0.0, ssim: [0.0; 3], ssim_all: 0.0 };
    let mut mse_all = 0.0;
    for c in 0..3 {
        let weight = (a[c].width * a[c].height) as f64 / total;
        let mse = sse(&a[c], &b[c], bits) as f64 / (a[c].width * a[c].height) as f64;
        out.psnr[c] = psnr_of(mse);
        mse_all += mse * weight;
        out.ssim[c] = ssim_plane(&a[c], &b[c], bits);
        out.ssim_all += out.ssim[c] * weight;
    }
    // vf_psnr: psnr_avg = get_psnr(Σ weight·mse, 1, lrint(Σ weight·max)) = max for one bit depth.
    out.psnr_all = psnr_of(mse_all);
    out
}

/// Sum of squared differences over a plane.
fn sse(a: &Plane, b: &Plane, bits: u32) -> u64 {
    let mut total = 0u64;
    for y in 0..a.height {
        if bits == 8 {
            let s: u64 = a.row8(y).iter().zip(b.row8(y)).map(|(&p, &q)| u64::from(p.abs_diff(q)).pow(2)).sum();
            total += s;
        } else {
            for x in 0..a.width {
                total += u64::from(a.sample16(x, y).abs_diff(b.sample16(x, y))).pow(2);
            }
        }
    }
    total
}

/// Sums of one 4×4 block: Σa, Σb, Σa²+Σb², Σab.
type Sums = [i64; 4];

/// The block sums of 4-row band `z` (blocks of 4×4 samples, `width / 4` of them).
fn band_sums(a: &Plane, b: &Plane, bits: u32, z: usize, out: &mut [Sums]) {
    for (bx, s) in out.iter_mut().enumerate() {
        let mut acc = [0i64; 4];
        for y in 4 * z..4 * z + 4 {
            for x in 4 * bx..4 * bx + 4 {
                let (p, q) = if bits == 8 {
                    (i64::from(a.data[y * a.stride + x]), i64::from(b.data[y * b.stride + x]))
                } else {
                    (i64::from(a.sample16(x, y)), i64::from(b.sample16(x, y)))
                };
                acc[0] += p;
                acc[1] += q;
                acc[2] += p * p + q * q;
                acc[3] += p * q;
            }
        }
        *s = acc;
    }
}

/// SSIM of one 8×8 window from its sums (vf_ssim `ssim_end1` / `ssim_end1x`:
/// integer sums, single-precision products, as FFmpeg rounds them).
fn ssim_end1(s1: i64, s2: i64, ss: i64, s12: i64, max: f64) -> f32 {
    let c1 = (0.01 * 0.01 * max * max * 64.0 + 0.5) as i64;
    let c2 = (0.03 * 0.03 * max * max * 64.0 * 63.0 + 0.5) as i64;
    let vars = ss * 64 - s1 * s1 - s2 * s2;
    let covar = s12 * 64 - s1 * s2;
    ((2 * s1 * s2 + c1) as f32) * ((2 * covar + c2) as f32) / (((s1 * s1 + s2 * s2 + c1) as f32) * ((vars + c2) as f32))
}

/// SSIM of one plane: the mean over 8×8 windows stepped by 4 samples
/// (vf_ssim `ssim_plane`); 1.0 for a plane too small to hold one window
/// when it is identical, else 0.0.
fn ssim_plane(a: &Plane, b: &Plane, bits: u32) -> f64 {
    let (w4, h4) = (a.width / 4, a.height / 4);
    if w4 < 2 || h4 < 2 {
        return if sse(a, b, bits) == 0 { 1.0 } else { 0.0 };
    }
    let max = f64::from((1u32 << bits) - 1);
    let mut prev = vec![[0i64; 4]; w4];
    let mut cur = vec![[0i64; 4]; w4];
    band_sums(a, b, bits, 0, &mut prev);
    let mut total = 0.0f64;
    for y in 1..h4 {
        band_sums(a, b, bits, y, &mut cur);
        // vf_ssim sums a band's windows in double at 8 bits, in float above.
        let (mut line64, mut line32) = (0.0f64, 0.0f32);
        for x in 0..w4 - 1 {
            let s = |k: usize| cur[x][k] + cur[x + 1][k] + prev[x][k] + prev[x + 1][k];
            let v = ssim_end1(s(0), s(1), s(2), s(3), max);
            line64 += f64::from(v);
            line32 += v;
        }
        total += if bits == 8 { line64 } else { f64::from(line32) };
        std::mem::swap(&mut prev, &mut cur);
    }
    total / ((h4 - 1) * (w4 - 1)) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planes(buf: &[Vec<u8>; 3], w: usize, h: usize, bytes: usize) -> [Plane<'_>; 3] {
        let p = |i: usize, w: usize, h: usize| Plane { data: &buf[i], stride: w * bytes, width: w, height: h };
        [p(0, w, h), p(1, w / 2, h / 2), p(2, w / 2, h / 2)]
    }

    fn picture(w: usize, h: usize, seed: u32) -> [Vec<u8>; 3] {
        let mut x = seed;
        let mut next = move || {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as u8
        };
        [(0..w * h).map(|_| next()).collect(), (0..w * h / 4).map(|_| next()).collect(), vec![128; w * h / 4]]
    }

    #[test]
    fn identical_frames_give_the_cap_and_ssim_one() {
        let a = picture(64, 32, 1);
        let m = frame_metrics(&planes(&a, 64, 32, 1), &planes(&a, 64, 32, 1), 8);
        assert_eq!(m.psnr, [60.0; 3]);
        assert_eq!(m.psnr_all, 60.0);
        assert_eq!(m.ssim, [1.0; 3]);
        assert!((m.ssim_all - 1.0).abs() < 1e-12, "weights sum to 1 up to rounding");
    }

    #[test]
    fn psnr_follows_the_mse_and_weights_planes_by_size() {
        let a = picture(64, 32, 1);
        // Every luma sample off by 4: MSE 16, PSNR = 10·log10(255²/16).
        let a2: [Vec<u8>; 3] = [a[0].iter().map(|v| (*v).min(251)).collect(), a[1].clone(), a[2].clone()];
        let b2: [Vec<u8>; 3] = [a2[0].iter().map(|v| v + 4).collect(), a[1].clone(), a[2].clone()];
        let m = frame_metrics(&planes(&a2, 64, 32, 1), &planes(&b2, 64, 32, 1), 8);
        let want = 10.0 * (255.0f64 * 255.0 / 16.0).log10();
        assert!((m.psnr[0] - want).abs() < 1e-9, "{} vs {want}", m.psnr[0]);
        assert_eq!(m.psnr[1], 60.0);
        // Luma is 4/6 of the samples: MSE_all = 16 · 4/6.
        let all = 10.0 * (255.0f64 * 255.0 / (16.0 * 4.0 / 6.0)).log10();
        assert!((m.psnr_all - all).abs() < 1e-9);
        assert!(m.ssim[0] < 1.0 && m.ssim[0] > 0.9, "a small offset keeps SSIM high: {}", m.ssim[0]);
    }

    #[test]
    fn sixteen_bit_samples_use_the_higher_peak() {
        let w = 32;
        let a: [Vec<u8>; 3] = [
            (0..w * w).flat_map(|i| ((i % 1000) as u16 + 10).to_ne_bytes()).collect(),
            vec![0; w * w / 2],
            vec![0; w * w / 2],
        ];
        let mut b = a.clone();
        b[0] = (0..w * w).flat_map(|i| ((i % 1000) as u16 + 12).to_ne_bytes()).collect();
        let m = frame_metrics(&planes(&a, w, w, 2), &planes(&b, w, w, 2), 10);
        let want = 10.0 * (1023.0f64 * 1023.0 / 4.0).log10();
        assert!((m.psnr[0] - want).abs() < 1e-9);
        assert_eq!(m.psnr[1], 72.0, "10-bit cap is 6·10+12");
    }

    #[test]
    fn unrelated_noise_has_low_ssim() {
        let (a, b) = (picture(64, 64, 1), picture(64, 64, 2));
        let m = frame_metrics(&planes(&a, 64, 64, 1), &planes(&b, 64, 64, 1), 8);
        assert!(m.ssim[0] < 0.1, "{}", m.ssim[0]);
        assert!(m.psnr[0] < 12.0, "{}", m.psnr[0]);
    }
}
