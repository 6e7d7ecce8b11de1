//! Encoding profiles: the 13 built-in `sophon-*` profiles and user profiles.
//!
//! A profile is a TOML file (schema in the README, "Profiles"): the output
//! codec and bit depth, a speed tier, a keyframe policy and, for every
//! encoder that can run it (libx265, libx264 for H.264 ladders, and each
//! hardware back-end), the FFmpeg encoder options to set. The built-in files
//! in `profiles/` are compiled into the binary; a user profile folder (from
//! [`user_profile_dir`]) adds profiles or overrides built-in ones by `id`.
//!
//! Loading validates everything up front; errors name the file, the field
//! and the allowed values. Option names and values are checked against the
//! linked FFmpeg's AVOption tables for every encoder it contains.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{EngineError, Result};
use crate::ffutil;

/// The built-in profile files, compiled in: (file name, contents).
const BUILTIN: &[(&str, &str)] = &[
    builtin!("sophon-auto"),
    builtin!("sophon-espresso"),
    builtin!("sophon-cortado"),
    builtin!("sophon-americano"),
    builtin!("sophon-espresso-hq"),
    builtin!("sophon-cortado-hq"),
    builtin!("sophon-americano-hq"),
    builtin!("sophon-espresso-10bit"),
    builtin!("sophon-cortado-10bit"),
    builtin!("sophon-americano-10bit"),
    builtin!("sophon-espresso-hq-10bit"),
    builtin!("sophon-cortado-hq-10bit"),
    builtin!("sophon-americano-hq-10bit"),
];

macro_rules! builtin {
    ($id:literal) => {
        (
            concat!("profiles/", $id, ".toml"),
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../profiles/", $id, ".toml")),
        )
    };
}
use builtin;

/// Encoders a profile may configure. `lib*` are software and always
/// present; the others are hardware back-ends used when present.
pub const KNOWN_ENCODERS: &[&str] = &[
    "libx265",
    "libx264",
    "hevc_nvenc",
    "h264_nvenc",
    "hevc_qsv",
    "h264_qsv",
    "hevc_vaapi",
    "h264_vaapi",
    "hevc_videotoolbox",
    "h264_videotoolbox",
    "hevc_amf",
    "h264_amf",
];

/// Speed tier: espresso = fast, cortado = medium, americano = slow (`/v1` "Profiles").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Speed {
    /// Fastest encode, larger files.
    Fast,
    /// Balanced.
    Medium,
    /// Slowest encode, smallest files.
    Slow,
}

/// How a UI groups profiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Group {
    /// 8-bit Main, standard quality.
    #[serde(rename = "standard")]
    Standard,
    /// 8-bit Main, quality-biased.
    #[serde(rename = "hq")]
    Hq,
    /// Main10.
    #[serde(rename = "10bit")]
    TenBit,
    /// Main10, quality-biased.
    #[serde(rename = "hq-10bit")]
    HqTenBit,
    /// Content-adaptive (`sophon-auto`).
    #[serde(rename = "auto")]
    Auto,
}

/// Output video codec of a profile's single-file output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoCodec {
    /// HEVC / H.265.
    Hevc,
    /// H.264 / AVC.
    H264,
}

/// Keyframe policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keyframes {
    /// Longest distance between keyframes, seconds (0.5..=20). HLS outputs
    /// override it with the segment duration so that every segment starts
    /// with a keyframe at the same position in every rung.
    pub max_interval_seconds: f64,
    /// Whether the encoder may add keyframes at scene changes (single-file
    /// outputs only; HLS outputs turn it off to keep rungs aligned).
    pub scenecut: bool,
}

/// `sophon-auto`'s rule for picking a concrete profile from a probe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoRules {
    /// Bits per pixel per frame above which a source counts as a mezzanine/camera master.
    pub mezzanine_bits_per_pixel: f64,
    /// Profile for mezzanine sources.
    pub mezzanine_profile: String,
    /// Bits per pixel per frame below which a source counts as already efficiently coded.
    pub efficient_bits_per_pixel: f64,
    /// Profile for efficiently coded sources (and any HEVC/VP9/AV1 source).
    pub efficient_profile: String,
    /// Profile for everything else.
    pub default_profile: String,
    /// Length of the sample encode that predicts the output size, seconds.
    pub sample_seconds: f64,
    /// Keep the original unless encoding saves at least this percentage (0..100).
    pub min_saving_percent: f64,
}

/// One profile, as loaded and validated.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Stable ID (`sophon-cortado-hq`); must equal the file name without `.toml`.
    pub id: String,
    /// Short display name.
    pub name: String,
    /// One or two sentences for people choosing a profile.
    pub description: String,
    /// UI group.
    pub group: Group,
    /// Output codec of single-file outputs.
    pub codec: VideoCodec,
    /// Output bit depth: 8 (Main, yuv420p) or 10 (Main10, yuv420p10le).
    pub bit_depth: u8,
    /// Speed tier; absent only for `auto` profiles.
    #[serde(default)]
    pub speed: Option<Speed>,
    /// Keyframe policy; absent only for `auto` profiles.
    #[serde(default)]
    pub keyframes: Option<Keyframes>,
    /// FFmpeg options per encoder name (see [`KNOWN_ENCODERS`]).
    #[serde(default)]
    pub encoders: BTreeMap<String, BTreeMap<String, String>>,
    /// Present on `auto` profiles only.
    #[serde(default)]
    pub auto: Option<AutoRules>,
    /// Where the profile came from (`profiles/x.toml` for built-ins, else the user file).
    #[serde(skip_deserializing, default)]
    pub source: String,
}

impl Profile {
    /// Whether this is a content-adaptive (`auto`) profile.
    pub fn is_auto(&self) -> bool {
        self.auto.is_some()
    }

    /// The options for `encoder` in file order-independent (sorted) order,
    /// or `None` when the profile does not configure that encoder.
    pub fn options_for(&self, encoder: &str) -> Option<Vec<(String, String)>> {
        self.encoders.get(encoder).map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }

    /// Parses and validates one profile file. `check_inner` also checks the
    /// keys inside `x265-params`/`x264-params` by opening a tiny encoder
    /// (about 3 ms and 9 MB of peak memory): done for user files; the
    /// compiled-in files are covered by a unit test instead.
    fn parse(file: &str, text: &str, check_inner: bool) -> Result<Self> {
        let mut p: Profile =
            toml::from_str(text).map_err(|e| EngineError::Profile(format!("{file}: {}", e.to_string().trim_end())))?;
        p.source = file.to_string();
        p.validate_alone(check_inner)?;
        Ok(p)
    }

    /// Checks everything that does not need the other profiles.
    fn validate_alone(&self, check_inner: bool) -> Result<()> {
        let f = &self.source;
        let err = |msg: String| Err(EngineError::Profile(format!("{f}: {msg}")));
        let stem = Path::new(f).file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        if self.id != stem {
            return err(format!("field `id`: `{}` must equal the file name `{stem}`", self.id));
        }
        if !self.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') || self.id.is_empty() {
            return err(format!("field `id`: `{}` may use only a-z, 0-9 and `-`", self.id));
        }
        if self.bit_depth != 8 && self.bit_depth != 10 {
            return err(format!("field `bit_depth`: {} is not one of 8, 10", self.bit_depth));
        }
        if let Some(auto) = &self.auto {
            if self.bit_depth != 8 || self.codec != VideoCodec::Hevc {
                return err("an `auto` profile is always HEVC 8-bit (codec = \"hevc\", bit_depth = 8)".into());
            }
            if !(0.0..=100.0).contains(&auto.min_saving_percent) {
                return err(format!("field `auto.min_saving_percent`: {} is outside 0..100", auto.min_saving_percent));
            }
            if !(1.0..=30.0).contains(&auto.sample_seconds) {
                return err(format!("field `auto.sample_seconds`: {} is outside 1..30", auto.sample_seconds));
            }
            if !self.encoders.is_empty() || self.speed.is_some() || self.keyframes.is_some() {
                return err(
                    "an `auto` profile takes no `speed`, `keyframes` or `encoders`: it runs other profiles".into()
                );
            }
            return Ok(());
        }
        if self.speed.is_none() {
            return err("field `speed` is missing (one of fast, medium, slow)".into());
        }
        match &self.keyframes {
            None => return err("table `keyframes` is missing".into()),
            Some(k) if !(0.5..=20.0).contains(&k.max_interval_seconds) => {
                return err(format!(
                    "field `keyframes.max_interval_seconds`: {} is outside 0.5..20",
                    k.max_interval_seconds
                ));
            }
            _ => {}
        }
        for need in ["libx265", "libx264"] {
            if !self.encoders.contains_key(need) {
                return err(format!(
                    "table `encoders.{need}` is missing (software encoders must always be configured)"
                ));
            }
        }
        for (enc, opts) in &self.encoders {
            if !KNOWN_ENCODERS.contains(&enc.as_str()) {
                return err(format!("table `encoders.{enc}`: unknown encoder; allowed: {}", KNOWN_ENCODERS.join(", ")));
            }
            for (name, value) in opts {
                if matches!(name.as_str(), "pix_fmt" | "g" | "keyint_min" | "forced-idr") {
                    return err(format!(
                        "field `encoders.{enc}.{name}`: set by Crema from `bit_depth` and `keyframes`, not in encoder options"
                    ));
                }
                if let Err(why) = ffutil::check_encoder_option(enc, name, value) {
                    return err(format!("field `encoders.{enc}.{name}`: {why}"));
                }
                // The keys inside x265-params / x264-params are only logged
                // by FFmpeg when wrong; check them by opening a tiny encoder.
                let inner =
                    matches!((enc.as_str(), name.as_str()), ("libx265", "x265-params") | ("libx264", "x264-params"));
                if inner
                    && check_inner
                    && let Err(why) = crate::xparams::check_params(enc, value, self.bit_depth)
                {
                    return err(format!("field `encoders.{enc}.{name}`: {why}"));
                }
            }
        }
        Ok(())
    }
}

/// The loaded set of profiles, by ID.
#[derive(Clone, Debug)]
pub struct ProfileSet {
    profiles: BTreeMap<String, Profile>,
}

impl ProfileSet {
    /// The built-in profiles only.
    ///
    /// Errors: [`EngineError::Profile`] if a built-in file is invalid (a build bug; a test loads them all).
    pub fn builtin() -> Result<Self> {
        Self::load(None)
    }

    /// Built-in profiles plus every `*.toml` in `user_dir` (when given and
    /// present); a user profile with a built-in ID replaces it.
    ///
    /// Errors: [`EngineError::Profile`] naming the file, field and allowed values.
    pub fn load(user_dir: Option<&Path>) -> Result<Self> {
        crate::init()?;
        let mut profiles = BTreeMap::new();
        for (file, text) in BUILTIN {
            let p = Profile::parse(file, text, false)?;
            profiles.insert(p.id.clone(), p);
        }
        if let Some(dir) = user_dir.filter(|d| d.is_dir()) {
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                .map_err(|e| EngineError::Profile(format!("{}: cannot read profile folder: {e}", dir.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            files.sort();
            for path in files {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| EngineError::Profile(format!("{}: {e}", path.display())))?;
                let p = Profile::parse(&path.display().to_string(), &text, true)?;
                profiles.insert(p.id.clone(), p);
            }
        }
        let set = Self { profiles };
        set.validate_references()?;
        Ok(set)
    }

    fn validate_references(&self) -> Result<()> {
        for p in self.profiles.values() {
            let Some(auto) = &p.auto else { continue };
            for (field, id) in [
                ("mezzanine_profile", &auto.mezzanine_profile),
                ("efficient_profile", &auto.efficient_profile),
                ("default_profile", &auto.default_profile),
            ] {
                match self.profiles.get(id) {
                    Some(t) if !t.is_auto() && t.bit_depth == 8 => {}
                    _ => {
                        return Err(EngineError::Profile(format!(
                            "{}: field `auto.{field}`: `{id}` must name a concrete 8-bit profile; allowed: {}",
                            p.source,
                            self.profiles
                                .values()
                                .filter(|t| !t.is_auto() && t.bit_depth == 8)
                                .map(|t| t.id.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// The profile with this ID.
    ///
    /// Errors: [`EngineError::Usage`] listing the known IDs.
    pub fn get(&self, id: &str) -> Result<&Profile> {
        self.profiles.get(id).ok_or_else(|| {
            EngineError::Usage(format!(
                "unknown profile `{id}`; known: {}",
                self.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })
    }

    /// All profiles, sorted by ID.
    pub fn iter(&self) -> impl Iterator<Item = &Profile> {
        self.profiles.values()
    }
}

/// The user profile folder: `<config dir>/crema/profiles` from the
/// `directories` crate (`~/.config/crema/profiles` on Linux), overridable with
/// the `CREMA_PROFILE_DIR` environment variable.
pub fn user_profile_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CREMA_PROFILE_DIR") {
        return Some(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("", "", "crema").map(|d| d.config_dir().join("profiles"))
}

#[cfg(test)]
mod tests;
