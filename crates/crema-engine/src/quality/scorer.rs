//! [`Scorer`]: per-frame and pooled quality of matched frame pairs.

use super::convert::{Converter, Target};
use super::metrics::frame_metrics;
use super::pool::Pooled;
use super::vmaf::{self, Vmaf, VmafSetup};
use super::{FrameScore, NEG_MODEL, QualityOptions, QualityReport};
use crate::{EngineError, Result};
use ffmpeg_next as ff;

/// Scores matched (reference, distorted) frame pairs.
///
/// The frames can be in any pixel format and the distorted ones at any size:
/// the first pair fixes the scoring format (see the module docs) and size
/// (the reference's); later reference frames must keep that size.
///
/// # In an encode loop, per chunk
///
/// ```text
/// let mut s = Scorer::new(&options)?;
/// s.start_at(first_frame_of_chunk, last_reference_of_previous_chunk)?;
/// for (input_frame, decoded_frame) in chunk { s.push(&input_frame, &decoded_frame, t_in, t_out)?; }
/// let report = s.finish()?;          // per-frame scores + mean/harmonic mean/p1/min
/// ```
///
/// VMAF's motion feature compares each reference frame with the one before
/// it, and libvmaf gives the first frame of a context motion 0. Passing the
/// previous chunk's last reference frame to [`Scorer::start_at`] primes the
/// context with it, so every frame scores exactly as in one whole-title run,
/// except the chunk's last frame: its motion also looks one frame ahead,
/// into the next chunk, which this scorer does not see (a shift of a few
/// hundredths of a VMAF point on that one frame). With a subsampling step
/// N, frames whose title index is a multiple of N are scored, in every chunk.
///
/// `push` copies the frames into libvmaf and returns; the VIF/ADM work runs
/// on libvmaf's threads (with `threads > 0`), which block `push` only when
/// they fall behind by about one frame per thread, so memory stays bounded.
/// VMAF scores are read in [`Scorer::finish`].
pub struct Scorer {
    options: QualityOptions,
    first_index: u64,
    previous: Option<ff::frame::Video>,
    state: Option<State>,
    fed: u64,
}

/// Set up by the first pair.
struct State {
    target: Target,
    /// The reference's size in pixels, which may not change.
    reference_size: (u32, u32),
    model: &'static str,
    vmaf: Vmaf,
    reference: Converter,
    distorted: Converter,
    /// libvmaf picture index of the next pair.
    next: u32,
    /// Scored frames awaiting their VMAF: (libvmaf index, scores so far).
    scored: Vec<(u32, FrameScore)>,
}

impl Scorer {
    /// A scorer with `options`.
    ///
    /// Errors: [`EngineError::Usage`] when `subsample` is even or outside
    /// 1..=99; [`EngineError::VmafUnavailable`] when the linked libvmaf lacks
    /// its built-in models (it was built without `xxd`).
    pub fn new(options: &QualityOptions) -> Result<Self> {
        if options.subsample == 0 || options.subsample > 99 || options.subsample.is_multiple_of(2) {
            return Err(EngineError::Usage(format!(
                "subsample {}: must be odd and 1..99 (an even step aliases with the encoder's mini-GOP pattern)",
                options.subsample
            )));
        }
        crate::init()?;
        vmaf::check_built_in_models().map_err(EngineError::VmafUnavailable)?;
        Ok(Self { options: options.clone(), first_index: 0, previous: None, state: None, fed: 0 })
    }

    /// For a chunk of a longer title: numbers the first pair `first_index`
    /// (the chunk's first frame in the title) and, when given, primes VMAF's
    /// motion feature with `previous_reference`, the title's reference frame
    /// just before the chunk (see the type docs). Call before the first push.
    ///
    /// Errors: [`EngineError::Usage`] when pairs were already pushed.
    pub fn start_at(&mut self, first_index: u64, previous_reference: Option<&ff::frame::Video>) -> Result<()> {
        if self.state.is_some() {
            return Err(EngineError::Usage("Scorer::start_at must come before the first pair".into()));
        }
        self.first_index = first_index;
        self.previous = previous_reference.cloned();
        Ok(())
    }

    /// Pairs pushed so far.
    pub fn frames_compared(&self) -> u64 {
        self.fed
    }

    /// Scores one pair: `reference` presented at `reference_seconds`,
    /// `distorted` at `distorted_seconds` (both only reported back).
    /// PSNR and SSIM are computed now, VMAF by libvmaf's threads.
    ///
    /// Errors: [`EngineError::Quality`] when a frame cannot be converted, the
    /// reference changes size, or libvmaf fails.
    pub fn push(
        &mut self,
        reference: &ff::frame::Video,
        distorted: &ff::frame::Video,
        reference_seconds: f64,
        distorted_seconds: f64,
    ) -> Result<()> {
        if self.state.is_none() {
            self.state = Some(self.open(reference, distorted)?);
        }
        let st = self.state.as_mut().expect("opened above");
        if (reference.width(), reference.height()) != st.reference_size {
            return Err(EngineError::Quality(format!(
                "the reference changed size from {}x{} to {}x{} at {reference_seconds:.3} s",
                st.reference_size.0,
                st.reference_size.1,
                reference.width(),
                reference.height()
            )));
        }
        let r = st.reference.convert(reference, &st.target).map_err(EngineError::Quality)?;
        let d = st.distorted.convert(distorted, &st.target).map_err(EngineError::Quality)?;
        if st.next.is_multiple_of(self.options.subsample) {
            let m = frame_metrics(&st.target.planes(r), &st.target.planes(d), st.target.bits);
            st.scored.push((
                st.next,
                FrameScore {
                    index: self.first_index + self.fed,
                    reference_seconds,
                    distorted_seconds,
                    vmaf: 0.0,
                    vmaf_neg: None,
                    psnr_y: m.psnr[0],
                    psnr_cb: m.psnr[1],
                    psnr_cr: m.psnr[2],
                    psnr: m.psnr_all,
                    ssim_y: m.ssim[0],
                    ssim: m.ssim_all,
                },
            ));
        }
        st.vmaf.read(r, d, st.next).map_err(EngineError::Quality)?;
        st.next += 1;
        self.fed += 1;
        Ok(())
    }

    /// Sets up libvmaf for the first pair and feeds the warm-up pictures:
    /// `w ≡ first_index (mod N)` of them so that libvmaf's own subsampling
    /// (picture index multiple of N) lands on title indices multiple of N,
    /// at least one when priming. Warm-ups are the previous reference frame
    /// (or, without one, the first reference frame, which gives the first
    /// frame motion 0 as a fresh start does); their scores are never read.
    fn open(&mut self, reference: &ff::frame::Video, distorted: &ff::frame::Video) -> Result<State> {
        let target =
            Target::for_pair(reference, distorted, self.options.at_distorted_size).map_err(EngineError::Quality)?;
        let model = self.options.model.name_for(target.width, target.height);
        let setup = VmafSetup {
            model,
            neg: self.options.neg,
            clip: self.options.clip,
            threads: self.options.threads,
            subsample: self.options.subsample,
            width: target.width,
            height: target.height,
            bits: target.bits,
            log2_chroma: target.log2_chroma,
        };
        let mut st = State {
            target,
            reference_size: (reference.width(), reference.height()),
            model,
            vmaf: Vmaf::new(&setup).map_err(EngineError::VmafUnavailable)?,
            reference: Converter::default(),
            distorted: Converter::default(),
            next: 0,
            scored: Vec::new(),
        };
        let n = u64::from(self.options.subsample);
        let warmups = match (self.first_index % n, self.previous.is_some()) {
            (0, true) => n,
            (r, _) => r,
        };
        let warm = self.previous.take();
        let warm = warm.as_ref().unwrap_or(reference);
        if warmups > 0 && (warm.width(), warm.height()) != (target.width, target.height) {
            return Err(EngineError::Quality("the previous reference frame differs in size from the chunk's".into()));
        }
        for _ in 0..warmups {
            let w = st.reference.convert(warm, &st.target).map_err(EngineError::Quality)?;
            st.vmaf.read(w, w, st.next).map_err(EngineError::Quality)?;
            st.next += 1;
        }
        Ok(st)
    }

    /// Waits for libvmaf, reads every scored frame's VMAF and pools.
    ///
    /// Errors: [`EngineError::Quality`] when no frame was scored (no pair
    /// pushed, or, with a subsampling step N, a chunk shorter than N that
    /// holds no title index multiple of N) or libvmaf fails.
    pub fn finish(mut self) -> Result<QualityReport> {
        let Some(mut st) = self.state.take() else {
            return Err(EngineError::Quality("no frame pairs to score".into()));
        };
        st.vmaf.flush().map_err(EngineError::Quality)?;
        let mut frames = Vec::with_capacity(st.scored.len());
        for (index, mut f) in std::mem::take(&mut st.scored) {
            let (v, neg) = st.vmaf.scores(index).map_err(EngineError::Quality)?;
            f.vmaf = v;
            f.vmaf_neg = neg;
            frames.push(f);
        }
        let pool = |get: fn(&FrameScore) -> f64| Pooled::of(&frames.iter().map(get).collect::<Vec<_>>());
        let no_frames = || {
            EngineError::Quality(format!(
                "no frame was scored ({} pairs, subsample {})",
                self.fed, self.options.subsample
            ))
        };
        let vmaf = pool(|f| f.vmaf).ok_or_else(no_frames)?;
        let vmaf_neg = if self.options.neg { pool(|f| f.vmaf_neg.unwrap_or(0.0)) } else { None };
        let pixel_format = st.target.pixel.descriptor().map_or("unknown", |d| d.name()).to_string();
        Ok(QualityReport {
            model: st.model.to_string(),
            neg_model: self.options.neg.then(|| NEG_MODEL.to_string()),
            width: st.target.width,
            height: st.target.height,
            pixel_format,
            bit_depth: st.target.bits,
            subsample: self.options.subsample,
            frames_compared: self.fed,
            frames_scored: frames.len() as u64,
            vmaf,
            vmaf_neg,
            psnr_y: pool(|f| f.psnr_y).ok_or_else(no_frames)?,
            psnr: pool(|f| f.psnr).ok_or_else(no_frames)?,
            ssim_y: pool(|f| f.ssim_y).ok_or_else(no_frames)?,
            ssim: pool(|f| f.ssim).ok_or_else(no_frames)?,
            pairing: None,
            frames,
        })
    }
}

/// libvmaf's version, for reports ("2.3.1").
pub fn libvmaf_version() -> String {
    vmaf::version()
}
