//! The one place Crema calls libvmaf (2.3.1, built by `libvmaf-sys` from
//! its bundled source and linked statically): a safe owner of a
//! `VmafContext` and the models it scores with.
//!
//! Replacing `libvmaf-sys` by a hand-written FFI (see README "Quality
//! measurement" for why one might) touches this file only.

use ffmpeg_next as ff;
use libvmaf_sys as sys;
use std::ffi::{CStr, CString, c_int};

unsafe extern "C" {
    /// Length of libvmaf's embedded copy of `model/vmaf_v0.6.1.json`
    /// (generated with `xxd --include`, declared by libvmaf's own
    /// `src/model.c`). Naming it here makes the link fail with "undefined
    /// symbol: src_vmaf_v0_6_1_json_len" when libvmaf was built without its
    /// built-in models, which is what happens silently when `xxd` is missing
    /// at build time: a loud build error instead of a binary that cannot score.
    static src_vmaf_v0_6_1_json_len: std::ffi::c_uint;
}

/// Size in bytes of the built-in `vmaf_v0.6.1` model text (about 19 kB).
pub(crate) fn built_in_model_bytes() -> usize {
    // SAFETY: a constant `unsigned int` defined by libvmaf, never written.
    unsafe { src_vmaf_v0_6_1_json_len as usize }
}

/// The error text for a model libvmaf does not have built in.
fn missing_model(name: &str) -> String {
    format!(
        "libvmaf has no built-in model \"{name}\": it was built without its models \
         (xxd was missing when libvmaf-sys was built); install xxd (scripts/setup.sh) \
         and rebuild with `cargo clean -p libvmaf-sys`"
    )
}

/// A loaded model and the key its scores are stored under.
struct LoadedModel {
    ptr: *mut sys::VmafModel,
}

impl Drop for LoadedModel {
    fn drop(&mut self) {
        // SAFETY: loaded by vmaf_model_load, destroyed once.
        unsafe { sys::vmaf_model_destroy(self.ptr) }
    }
}

fn load_model(version: &str, key: &'static CStr, clip: bool) -> Result<LoadedModel, String> {
    let version_c = CString::new(version).map_err(|_| missing_model(version))?;
    let flags = if clip {
        sys::VmafModelFlags::VMAF_MODEL_FLAGS_DEFAULT as u64
    } else {
        sys::VmafModelFlags::VMAF_MODEL_FLAG_DISABLE_CLIP as u64
    };
    let mut cfg = sys::VmafModelConfig { name: key.as_ptr(), flags };
    let mut ptr = std::ptr::null_mut();
    // SAFETY: valid out-pointer and config; libvmaf copies the name.
    let err = unsafe { sys::vmaf_model_load(&mut ptr, &mut cfg, version_c.as_ptr()) };
    if err != 0 || ptr.is_null() {
        return Err(missing_model(version));
    }
    Ok(LoadedModel { ptr })
}

/// Checks that libvmaf has the models Crema uses (`vmaf_v0.6.1`,
/// `vmaf_v0.6.1neg`, `vmaf_4k_v0.6.1`) built in.
///
/// Errors: the cause in words, naming the missing model and the fix.
pub(crate) fn check_built_in_models() -> Result<(), String> {
    if built_in_model_bytes() == 0 {
        return Err(missing_model("vmaf_v0.6.1"));
    }
    for name in ["vmaf_v0.6.1", super::NEG_MODEL, "vmaf_4k_v0.6.1"] {
        load_model(name, c"check", true)?;
    }
    Ok(())
}

/// What a [`Vmaf`] context scores.
pub(crate) struct VmafSetup<'a> {
    /// Main model name (`vmaf_v0.6.1` or `vmaf_4k_v0.6.1`).
    pub model: &'a str,
    /// Also score with the NEG model.
    pub neg: bool,
    /// Clip scores to 0..100.
    pub clip: bool,
    /// Worker threads (0 = on the calling thread).
    pub threads: usize,
    /// Score only frames whose index is a multiple of this (≥ 1).
    pub subsample: u32,
    /// Picture geometry.
    pub width: u32,
    /// Picture geometry.
    pub height: u32,
    /// Bits per sample (8..=16).
    pub bits: u32,
    /// log2 chroma subsampling (horizontal, vertical).
    pub log2_chroma: (u32, u32),
}

/// A libvmaf context with its models.
pub(crate) struct Vmaf {
    ctx: *mut sys::VmafContext,
    main: LoadedModel,
    neg: Option<LoadedModel>,
    pix_fmt: sys::VmafPixelFormat,
    bits: u32,
    width: u32,
    height: u32,
    flushed: bool,
}

// SAFETY: the context is only used through `&mut self` (one thread at a
// time); libvmaf's own worker threads are internal to it.
unsafe impl Send for Vmaf {}

fn check(err: c_int, what: &str) -> Result<(), String> {
    if err == 0 { Ok(()) } else { Err(format!("libvmaf: {what} failed ({})", std::io::Error::from_raw_os_error(-err))) }
}

impl Vmaf {
    /// Opens a context scoring with `setup`.
    ///
    /// Errors: the cause in words (a model missing, libvmaf refusing the setup).
    pub fn new(setup: &VmafSetup) -> Result<Self, String> {
        let main = load_model(setup.model, c"vmaf", setup.clip)?;
        let neg = if setup.neg { Some(load_model(super::NEG_MODEL, c"vmaf_neg", setup.clip)?) } else { None };
        let cfg = sys::VmafConfiguration {
            log_level: sys::VmafLogLevel::VMAF_LOG_LEVEL_NONE,
            n_threads: setup.threads.min(64) as u32,
            n_subsample: setup.subsample.max(1),
            cpumask: 0,
        };
        let mut ctx = std::ptr::null_mut();
        // SAFETY: valid out-pointer; the configuration is passed by value.
        check(unsafe { sys::vmaf_init(&mut ctx, cfg) }, "init")?;
        let pix_fmt = match setup.log2_chroma {
            (1, 1) => sys::VmafPixelFormat::VMAF_PIX_FMT_YUV420P,
            (1, 0) => sys::VmafPixelFormat::VMAF_PIX_FMT_YUV422P,
            _ => sys::VmafPixelFormat::VMAF_PIX_FMT_YUV444P,
        };
        let v = Self {
            ctx,
            main,
            neg,
            pix_fmt,
            bits: setup.bits,
            width: setup.width,
            height: setup.height,
            flushed: false,
        };
        // SAFETY: context and models are valid; libvmaf registers the
        // feature extractors each model needs (shared ones once).
        check(unsafe { sys::vmaf_use_features_from_model(v.ctx, v.main.ptr) }, "loading the model's features")?;
        if let Some(neg) = &v.neg {
            // SAFETY: as above.
            check(unsafe { sys::vmaf_use_features_from_model(v.ctx, neg.ptr) }, "loading the NEG model's features")?;
        }
        Ok(v)
    }

    /// A libvmaf picture holding a copy of `frame`'s three planes (the frame
    /// must be in the context's format and size).
    fn picture(&self, frame: &ff::frame::Video) -> Result<sys::VmafPicture, String> {
        // SAFETY: a zeroed VmafPicture is what vmaf_picture_alloc expects to fill.
        let mut pic: sys::VmafPicture = unsafe { std::mem::zeroed() };
        // SAFETY: valid picture pointer and parameters.
        check(
            unsafe { sys::vmaf_picture_alloc(&mut pic, self.pix_fmt, self.bits, self.width, self.height) },
            "picture",
        )?;
        let bytes_per_sample = if self.bits > 8 { 2 } else { 1 };
        for p in 0..3 {
            let (src, src_stride) = (frame.data(p), frame.stride(p));
            let row_bytes = pic.w[p] as usize * bytes_per_sample;
            let dst_stride = pic.stride[p] as usize;
            for y in 0..pic.h[p] as usize {
                let row = &src[y * src_stride..y * src_stride + row_bytes];
                // SAFETY: libvmaf allocated h[p] rows of stride[p] ≥ row_bytes bytes.
                unsafe {
                    std::ptr::copy_nonoverlapping(row.as_ptr(), (pic.data[p] as *mut u8).add(y * dst_stride), row_bytes)
                };
            }
        }
        Ok(pic)
    }

    /// Feeds one pair as picture `index` (0, 1, 2… without gaps: the motion
    /// feature keys its frame history on the index).
    pub fn read(
        &mut self,
        reference: &ff::frame::Video,
        distorted: &ff::frame::Video,
        index: u32,
    ) -> Result<(), String> {
        let mut r = self.picture(reference)?;
        let mut d = match self.picture(distorted) {
            Ok(d) => d,
            Err(e) => {
                // SAFETY: allocated above, not handed to libvmaf.
                unsafe { sys::vmaf_picture_unref(&mut r) };
                return Err(e);
            }
        };
        // SAFETY: libvmaf takes both pictures over (it unrefs them).
        check(unsafe { sys::vmaf_read_pictures(self.ctx, &mut r, &mut d, index) }, "reading pictures")
    }

    /// Waits for every queued feature computation; no pictures after this.
    pub fn flush(&mut self) -> Result<(), String> {
        if !self.flushed {
            self.flushed = true;
            // SAFETY: null pictures flush the context.
            check(
                unsafe { sys::vmaf_read_pictures(self.ctx, std::ptr::null_mut(), std::ptr::null_mut(), 0) },
                "flushing",
            )?;
        }
        Ok(())
    }

    /// The main model's score of picture `index` and the NEG model's
    /// (after [`Vmaf::flush`]).
    pub fn scores(&mut self, index: u32) -> Result<(f64, Option<f64>), String> {
        let mut main = 0.0;
        // SAFETY: valid context, model and out-pointer.
        check(unsafe { sys::vmaf_score_at_index(self.ctx, self.main.ptr, &mut main, index) }, "scoring")?;
        let neg = match &self.neg {
            Some(m) => {
                let mut v = 0.0;
                // SAFETY: as above.
                check(unsafe { sys::vmaf_score_at_index(self.ctx, m.ptr, &mut v, index) }, "NEG scoring")?;
                Some(v)
            }
            None => None,
        };
        Ok((main, neg))
    }
}

impl Drop for Vmaf {
    fn drop(&mut self) {
        // SAFETY: closes the context once (this waits for its threads); the
        // models are destroyed after it by their own Drop.
        unsafe { sys::vmaf_close(self.ctx) };
    }
}

/// libvmaf's version string ("2.3.1").
pub(crate) fn version() -> String {
    // SAFETY: libvmaf returns a static NUL-terminated string.
    unsafe { CStr::from_ptr(sys::vmaf_version()) }.to_string_lossy().into_owned()
}
