//! What a check found: [`Violation`]s collected in a [`CheckReport`].

use std::fmt;

use super::rules::Rule;

/// One broken rule, where and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Stable short id of the rule (`"media.target-duration"`), see [`super::RULES`].
    pub rule: &'static str,
    /// The clause it comes from (`"RFC 8216 §4.3.3.1"`).
    pub spec: &'static str,
    /// Where, relative to the package folder (`"360p/index.m3u8"`,
    /// `"360p/seg_00002.m4s"`, `"master.m3u8 (360p/index.m3u8)"`).
    pub location: String,
    /// What is wrong, with the declared and measured values.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} [{}; {}]", self.location, self.message, self.rule, self.spec)
    }
}

/// The outcome of [`super::check_package`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CheckReport {
    /// Every broken rule, in the order found.
    pub violations: Vec<Violation>,
    /// Video variants (`EXT-X-STREAM-INF`) in the master playlist.
    pub variants: usize,
    /// Audio renditions (`EXT-X-MEDIA TYPE=AUDIO`) in the master playlist.
    pub audio_renditions: usize,
    /// Media segments listed by the media playlists checked (each playlist once).
    pub segments: usize,
}

impl CheckReport {
    /// True when no rule is broken.
    pub fn is_ok(&self) -> bool {
        self.violations.is_empty()
    }

    /// True when some violation has rule id `rule`.
    pub fn has(&self, rule: &str) -> bool {
        self.violations.iter().any(|v| v.rule == rule)
    }

    pub(super) fn push(&mut self, rule: Rule, location: impl Into<String>, message: impl Into<String>) {
        self.violations.push(Violation {
            rule: rule.id,
            spec: rule.spec,
            location: location.into(),
            message: message.into(),
        });
    }
}

/// One line per violation; a single `ok: ...` line when there is none.
impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.violations.is_empty() {
            return writeln!(
                f,
                "ok: {} variant(s), {} audio rendition(s), {} segment(s), no violations",
                self.variants, self.audio_renditions, self.segments
            );
        }
        for v in &self.violations {
            writeln!(f, "{v}")?;
        }
        Ok(())
    }
}
