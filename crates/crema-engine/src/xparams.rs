//! Validation of `x265-params` / `x264-params` strings.
//!
//! FFmpeg's libx265 and libx264 wrappers hand every `key=value` pair of those
//! strings to the encoder library and only *log* the ones it rejects
//! (libx265: `Unknown option: KEY.` / `Invalid value for KEY: VALUE.`,
//! libx264: `Error parsing option 'KEY = VALUE'.`), then carry on. Crema keeps
//! FFmpeg's log quiet, so a typo in a profile would pass unnoticed.
//!
//! [`check_params`] opens a tiny throw-away encoder with the string, captures
//! exactly those log lines through a temporary `av_log` callback and turns
//! them into an error. Results are cached per (encoder, string, bit depth).

use ffmpeg_next::ffi;
use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};

/// The `va_list` argument as bindgen renders it in `av_log_set_callback`'s
/// callback type: on x86_64 System V `va_list` is an array type, so a
/// parameter of that type decays to a pointer to its element.
#[cfg(all(target_arch = "x86_64", not(windows)))]
type VaList = *mut ffi::__va_list_tag;
/// The `va_list` argument as bindgen renders it on other targets.
#[cfg(not(all(target_arch = "x86_64", not(windows))))]
type VaList = ffi::va_list;

type CacheKey = (String, String, u8);

/// Finished checks, so loading the same profile again costs a map lookup.
static CACHE: LazyLock<Mutex<HashMap<CacheKey, Result<(), String>>>> = LazyLock::new(Default::default);
/// Serialises checks: the log callback is process-global.
static CHECK: Mutex<()> = Mutex::new(());
/// The codec context being checked (null when no check runs).
static TARGET_CTX: AtomicPtr<c_void> = AtomicPtr::new(ptr::null_mut());
/// Its private context (`priv_data`), which `av_opt_set_dict` logs against.
static TARGET_PRIV: AtomicPtr<c_void> = AtomicPtr::new(ptr::null_mut());
/// Log lines captured from the two targets: (level, text without newline).
static CAPTURED: Mutex<Vec<(c_int, String)>> = Mutex::new(Vec::new());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Checks an `x265-params` / `x264-params` string for `encoder` (`"libx265"`
/// or `"libx264"`) by opening a tiny encoder (64x64, `yuv420p` or
/// `yuv420p10le` per `bit_depth`, preset `ultrafast`) with exactly that string
/// and capturing the wrapper's log messages about unknown keys and invalid
/// values.
///
/// An empty (or all-blank) string is accepted without opening anything.
/// Results are cached per (`encoder`, `params`, `bit_depth`); one uncached
/// check takes a few milliseconds (libx265 is opened with `pools=none`,
/// `frame-threads=1` and `log-level=none` appended unless the string sets
/// those keys itself or is not a plain `k=v:k=v` list, libx264 with one
/// thread).
///
/// While a check runs (checks are serialised), FFmpeg's process-wide log
/// callback is replaced by one that captures lines about the throw-away
/// context and passes every other line to `av_log_default_callback`; the
/// default callback is restored afterwards.
///
/// Errors: one line naming each bad key and value, e.g.
/// `invalid x265-params "aq-mod=2" for libx265: unknown key "aq-mod" (in "aq-mod=2")`;
/// or, when the encoder refuses to open at all, FFmpeg's error text and, where
/// a single pair is to blame, that pair.
pub fn check_params(encoder: &str, params: &str, bit_depth: u8) -> Result<(), String> {
    let key = (encoder.to_string(), params.to_string(), bit_depth);
    if let Some(hit) = lock(&*CACHE).get(&key) {
        return hit.clone();
    }
    let result = {
        let _check = lock(&CHECK);
        // Another thread may have finished the same check while we waited.
        if let Some(hit) = lock(&*CACHE).get(&key) {
            return hit.clone();
        }
        run_check(encoder, params, bit_depth)
    };
    lock(&*CACHE).insert(key, result.clone());
    result
}

/// One rejected pair, as the wrapper reported it.
#[derive(Debug, PartialEq)]
enum Problem {
    /// libx265: `Unknown option: KEY.`
    UnknownKey(String),
    /// libx265: `Invalid value for KEY: VALUE.`
    BadValue(String, String),
    /// libx264: `Error parsing option 'KEY = VALUE'.` (unknown key or bad value).
    Rejected(String, String),
}

/// What one open attempt produced.
struct Attempt {
    /// `Some(text)` when `avcodec_open2` failed.
    open_error: Option<String>,
    /// Lines logged against the context while opening.
    messages: Vec<(c_int, String)>,
}

fn params_option(encoder: &str) -> Result<&'static str, String> {
    match encoder {
        "libx265" => Ok("x265-params"),
        "libx264" => Ok("x264-params"),
        other => Err(format!("encoder parameters can only be checked for libx265 and libx264, not {other}")),
    }
}

/// `key=value` pairs of a params string, split the way the wrappers split it
/// (`:` between pairs, the first `=` between key and value).
fn pairs(params: &str) -> Vec<(&str, &str)> {
    params.split(':').filter(|s| !s.is_empty()).map(|s| s.split_once('=').unwrap_or((s, ""))).collect()
}

/// A key as x265 matches it: `--` prefix dropped, `_` read as `-`, a `no-` /
/// `no` negation prefix dropped.
fn x265_key(key: &str) -> String {
    let key = key.trim().trim_start_matches("--").replace('_', "-");
    let key = key.strip_prefix("no-").or_else(|| key.strip_prefix("no")).unwrap_or(&key);
    key.to_string()
}

/// The string actually passed to the encoder: the user's string, plus the
/// settings that make the throw-away open cheap and silent, each only when the
/// user's string does not set that key (or an alias) itself. FFmpeg parses the
/// string into a dictionary, so an appended duplicate key would replace the
/// user's value and hide an error in it.
fn effective_params(encoder: &str, params: &str) -> String {
    // libx264 gets its single thread from AVCodecContext.thread_count. A
    // string this simple splitter cannot read exactly as FFmpeg does (quotes,
    // backslash escapes, a pair without `=`) is passed untouched, so that
    // FFmpeg judges precisely what the user wrote.
    let segments: Vec<&str> = params.split(':').collect();
    let simple = !params.contains(['\\', '\'', '"'])
        && segments.iter().enumerate().all(|(i, s)| s.contains('=') || (s.is_empty() && i + 1 == segments.len()));
    if encoder != "libx265" || !simple {
        return params.to_string();
    }
    let set: Vec<String> = pairs(params).iter().map(|(k, _)| x265_key(k)).collect();
    let has = |aliases: &[&str]| set.iter().any(|k| aliases.contains(&k.as_str()));
    let mut out = params.to_string();
    for (aliases, pair) in [
        (&["pools", "numa-pools"][..], "pools=none"),
        (&["frame-threads"][..], "frame-threads=1"),
        (&["log-level", "log"][..], "log-level=none"),
    ] {
        if !has(aliases) {
            if !out.is_empty() && !out.ends_with(':') {
                out.push(':');
            }
            out.push_str(pair);
        }
    }
    out
}

/// Recognises the wrappers' complaints about a pair; anything else is `None`.
fn parse_problem(text: &str) -> Option<Problem> {
    let text = text.trim_end();
    if let Some(key) = text.strip_prefix("Unknown option: ").and_then(|r| r.strip_suffix('.')) {
        return Some(Problem::UnknownKey(key.to_string()));
    }
    if let Some(rest) = text.strip_prefix("Invalid value for ").and_then(|r| r.strip_suffix('.')) {
        let (k, v) = rest.split_once(": ")?;
        return Some(Problem::BadValue(k.to_string(), v.to_string()));
    }
    if let Some(rest) = text.strip_prefix("Error parsing option '").and_then(|r| r.strip_suffix("'.")) {
        let (k, v) = rest.split_once(" = ")?;
        return Some(Problem::Rejected(k.to_string(), v.to_string()));
    }
    None
}

fn describe(problem: &Problem, params: &str) -> String {
    match problem {
        Problem::UnknownKey(key) => match pairs(params).into_iter().find(|(k, _)| k.trim() == key.as_str()) {
            Some((k, v)) if !v.is_empty() => format!("unknown key \"{key}\" (in \"{k}={v}\")"),
            _ => format!("unknown key \"{key}\""),
        },
        Problem::BadValue(key, value) => format!("invalid value \"{value}\" for key \"{key}\""),
        Problem::Rejected(key, value) => format!("unknown key or invalid value \"{key}={value}\""),
    }
}

fn run_check(encoder: &str, params: &str, bit_depth: u8) -> Result<(), String> {
    let option = params_option(encoder)?;
    if bit_depth != 8 && bit_depth != 10 {
        return Err(format!("unsupported bit depth {bit_depth} (expected 8 or 10)"));
    }
    if params.trim().is_empty() {
        return Ok(());
    }
    crate::init().map_err(|e| e.to_string())?;
    let attempt = open_once(encoder, option, &effective_params(encoder, params), bit_depth)?;
    let problems: Vec<String> =
        attempt.messages.iter().filter_map(|(_, text)| parse_problem(text)).map(|p| describe(&p, params)).collect();
    if !problems.is_empty() {
        return Err(format!("invalid {option} \"{params}\" for {encoder}: {}", problems.join(", ")));
    }
    let Some(open_error) = attempt.open_error else { return Ok(()) };
    // The encoder refused to open (x265 rejects out-of-range values only
    // there, and its own explanation goes to stderr, not av_log, so it is
    // silenced). Name the pair(s) that fail on their own where possible.
    let all = pairs(params);
    let mut culprits = Vec::new();
    if all.len() > 1 {
        for (k, v) in &all {
            let single = format!("{k}={v}");
            if open_once(encoder, option, &effective_params(encoder, &single), bit_depth)?.open_error.is_some() {
                culprits.push(single);
            }
        }
    }
    let blame = if culprits.is_empty() { String::new() } else { format!(" (rejected: {})", culprits.join(", ")) };
    Err(format!("invalid {option} \"{params}\" for {encoder}: {open_error}{blame}"))
}

/// Logs every line against the context under check into [`CAPTURED`] and
/// hands every other line to FFmpeg's default callback unchanged.
unsafe extern "C" fn capture_log(avcl: *mut c_void, level: c_int, fmt: *const c_char, vl: VaList) {
    let ours =
        !avcl.is_null() && (avcl == TARGET_CTX.load(Ordering::SeqCst) || avcl == TARGET_PRIV.load(Ordering::SeqCst));
    if !ours {
        // SAFETY: forwarding the arguments FFmpeg gave us, untouched.
        unsafe { ffi::av_log_default_callback(avcl, level, fmt, vl) };
        return;
    }
    let mut line = [0 as c_char; 1024];
    let mut print_prefix: c_int = 0;
    // SAFETY: `fmt`/`vl` come straight from av_vlog and are consumed once; the
    // buffer is writable for its length and always NUL-terminated by FFmpeg.
    unsafe {
        ffi::av_log_format_line2(avcl, level, fmt, vl, line.as_mut_ptr(), line.len() as c_int, &mut print_prefix);
    }
    // SAFETY: av_log_format_line2 NUL-terminates `line`.
    let text = unsafe { CStr::from_ptr(line.as_ptr()) }.to_string_lossy().trim_end().to_string();
    lock(&CAPTURED).push((level, text));
}

/// Sets the log callback back to FFmpeg's default and forgets the targets,
/// also when an open attempt unwinds.
struct CaptureGuard;

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        // SAFETY: av_log_default_callback is FFmpeg's own default callback.
        unsafe { ffi::av_log_set_callback(Some(ffi::av_log_default_callback)) };
        TARGET_CTX.store(ptr::null_mut(), Ordering::SeqCst);
        TARGET_PRIV.store(ptr::null_mut(), Ordering::SeqCst);
    }
}

/// Opens and closes one throw-away encoder with `option=value`; the caller
/// holds [`CHECK`].
fn open_once(encoder: &str, option: &str, value: &str, bit_depth: u8) -> Result<Attempt, String> {
    let c_encoder = CString::new(encoder).map_err(|_| format!("bad encoder name {encoder:?}"))?;
    let c_option = CString::new(option).map_err(|_| format!("bad option name {option:?}"))?;
    let c_value = CString::new(value).map_err(|_| format!("{option} contains a NUL byte"))?;
    // SAFETY: plain FFmpeg calls on objects created and freed here; the
    // context stays alive until after the callback is restored.
    unsafe {
        let codec = ffi::avcodec_find_encoder_by_name(c_encoder.as_ptr());
        if codec.is_null() {
            return Err(format!("encoder {encoder} is not available in this FFmpeg build"));
        }
        let mut ctx = ffi::avcodec_alloc_context3(codec);
        if ctx.is_null() {
            return Err(format!("cannot allocate a {encoder} context"));
        }
        (*ctx).width = 64;
        (*ctx).height = 64;
        (*ctx).pix_fmt = if bit_depth > 8 {
            ffi::AVPixelFormat::AV_PIX_FMT_YUV420P10LE
        } else {
            ffi::AVPixelFormat::AV_PIX_FMT_YUV420P
        };
        (*ctx).time_base = ffi::AVRational { num: 1, den: 25 };
        (*ctx).framerate = ffi::AVRational { num: 25, den: 1 };
        (*ctx).thread_count = 1;

        let mut dict: *mut ffi::AVDictionary = ptr::null_mut();
        ffi::av_dict_set(&mut dict, c"preset".as_ptr(), c"ultrafast".as_ptr(), 0);
        ffi::av_dict_set(&mut dict, c_option.as_ptr(), c_value.as_ptr(), 0);

        lock(&CAPTURED).clear();
        let ret = {
            let _guard = CaptureGuard;
            TARGET_CTX.store(ctx.cast(), Ordering::SeqCst);
            TARGET_PRIV.store((*ctx).priv_data, Ordering::SeqCst);
            ffi::av_log_set_callback(Some(capture_log));
            ffi::avcodec_open2(ctx, codec, &mut dict)
        };
        ffi::av_dict_free(&mut dict);
        ffi::avcodec_free_context(&mut ctx);
        let messages = std::mem::take(&mut *lock(&CAPTURED));

        let open_error = (ret < 0).then(|| {
            let mut text = ffmpeg_next::Error::from(ret).to_string();
            let logged: Vec<&str> = messages
                .iter()
                .filter(|(level, _)| *level <= ffi::AV_LOG_ERROR)
                .map(|(_, t)| t.as_str())
                .filter(|t| !t.is_empty())
                .collect();
            if !logged.is_empty() {
                text = format!("{} ({text})", logged.join(" "));
            }
            text
        });
        Ok(Attempt { open_error, messages })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn xparams_valid_x265_strings_pass() {
        for params in
            ["aq-mode=2", "aq-mode=3:psy-rd=2.0:psy-rdoq=1.0", "keyint=50:min-keyint=50:scenecut=0:open-gop=0"]
        {
            for depth in [8, 10] {
                assert_eq!(check_params("libx265", params, depth), Ok(()), "{params} @ {depth} bit");
            }
        }
    }

    #[test]
    fn xparams_valid_x264_strings_pass() {
        assert_eq!(check_params("libx264", "keyint=50:min-keyint=50:scenecut=0", 8), Ok(()));
        assert_eq!(check_params("libx264", "keyint=50:min-keyint=50:scenecut=0", 10), Ok(()));
    }

    #[test]
    fn xparams_empty_string_passes() {
        assert_eq!(check_params("libx265", "", 8), Ok(()));
        assert_eq!(check_params("libx264", "  ", 8), Ok(()));
    }

    #[test]
    fn xparams_unknown_x265_key_fails_naming_it() {
        let err = check_params("libx265", "aq-mod=2", 8).unwrap_err();
        assert!(err.contains("unknown key \"aq-mod\""), "{err}");
        assert!(err.contains("aq-mod=2"), "{err}");
        let err = check_params("libx265", "aq-mode=3:foo=1:psy-rd=2.0", 10).unwrap_err();
        assert!(err.contains("unknown key \"foo\" (in \"foo=1\")"), "{err}");
        let named = err.split_once("for libx265: ").unwrap().1;
        assert_eq!(named, "unknown key \"foo\" (in \"foo=1\")", "only the bad key is named: {err}");
    }

    #[test]
    fn xparams_bad_x265_value_fails_naming_key_and_value() {
        let err = check_params("libx265", "aq-mode=banana", 8).unwrap_err();
        assert!(err.contains("invalid value \"banana\" for key \"aq-mode\""), "{err}");
    }

    #[test]
    fn xparams_several_problems_on_one_line() {
        let err = check_params("libx265", "aq-mod=2:keyint=abc:foo=1", 8).unwrap_err();
        assert!(!err.contains('\n'), "{err}");
        for part in ["\"aq-mod\"", "\"abc\" for key \"keyint\"", "\"foo\""] {
            assert!(err.contains(part), "{part} missing: {err}");
        }
    }

    #[test]
    fn xparams_x264_unknown_key_and_bad_value_fail() {
        let err = check_params("libx264", "foo=1", 8).unwrap_err();
        assert!(err.contains("foo=1"), "{err}");
        let err = check_params("libx264", "keyint=50:min-keyin=5", 8).unwrap_err();
        assert!(err.contains("min-keyin=5"), "{err}");
        let err = check_params("libx264", "keyint=banana", 8).unwrap_err();
        assert!(err.contains("keyint=banana"), "{err}");
    }

    #[test]
    fn xparams_open_failure_is_an_error() {
        // x265 accepts the value while parsing but refuses to open with it.
        let err = check_params("libx265", "aq-mode=9", 8).unwrap_err();
        assert!(err.contains("Cannot open libx265 encoder"), "{err}");
        let err = check_params("libx265", "psy-rd=2.0:aq-mode=9", 8).unwrap_err();
        assert!(err.contains("rejected: aq-mode=9"), "{err}");
        // A string FFmpeg cannot even split into pairs.
        for raw in ["aq-mode", "aq-mode=2::", "aq-mode=2:foo"] {
            let err = check_params("libx265", raw, 8).unwrap_err();
            assert!(err.contains("Error setting option x265-params"), "{err}");
        }
        let err = check_params("libx264", "foo", 8).unwrap_err();
        assert!(err.contains("Error setting option x264-params"), "{err}");
    }

    #[test]
    fn xparams_user_keys_are_not_masked_by_internal_ones() {
        assert_eq!(effective_params("libx265", "aq-mode=2"), "aq-mode=2:pools=none:frame-threads=1:log-level=none");
        assert_eq!(
            effective_params("libx265", "numa_pools=banana:log=info"),
            "numa_pools=banana:log=info:frame-threads=1"
        );
        assert_eq!(effective_params("libx264", "threads=4"), "threads=4");
        assert_eq!(effective_params("libx265", "aq-mode=2:"), "aq-mode=2:pools=none:frame-threads=1:log-level=none");
        // Strings FFmpeg would read differently from a plain split stay as written.
        for raw in ["aq-mode", "aq-mode=2::", "aq-mode=2::psy-rd=1", "a=\\:b", "a='x:y'"] {
            assert_eq!(effective_params("libx265", raw), raw);
        }
        let err = check_params("libx265", "frame-threads=banana", 8);
        assert!(err.is_err(), "{err:?}");
    }

    #[test]
    fn xparams_unsupported_encoder_or_depth() {
        assert!(check_params("libvpx", "foo=1", 8).is_err());
        assert!(check_params("libx265", "aq-mode=2", 12).is_err());
    }

    #[test]
    fn xparams_cache_returns_same_result_fast() {
        let params = "aq-mode=3:psy-rd=1.5:psy-rdoq=0.5";
        let t = Instant::now();
        let first = check_params("libx265", params, 8);
        let first_time = t.elapsed();
        assert!(lock(&*CACHE).contains_key(&("libx265".to_string(), params.to_string(), 8)));
        let t = Instant::now();
        let second = check_params("libx265", params, 8);
        let cached_time = t.elapsed();
        assert_eq!(first, second);
        assert_eq!(first, Ok(()));
        let bad = check_params("libx265", "aq-mod=7", 8);
        assert_eq!(bad, check_params("libx265", "aq-mod=7", 8));
        assert!(bad.is_err());
        let t = Instant::now();
        let _ = check_params("libx264", "keyint=25", 8);
        let x264_time = t.elapsed();
        eprintln!("x265 check: first {first_time:?}, cached {cached_time:?}; x264 check: {x264_time:?}");
        assert!(cached_time < first_time);
    }

    #[test]
    fn xparams_concurrent_checks() {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                std::thread::spawn(move || {
                    let good = format!("aq-mode=2:keyint={}", 40 + i);
                    let bad = format!("aq-mod=2:keyint={}", 40 + i);
                    (
                        check_params("libx265", &good, 8),
                        check_params("libx265", &bad, 8),
                        check_params("libx264", &bad, 8),
                    )
                })
            })
            .collect();
        for h in handles {
            let (good, bad, bad264) = h.join().unwrap();
            assert_eq!(good, Ok(()));
            assert!(bad.unwrap_err().contains("unknown key \"aq-mod\""));
            assert!(bad264.unwrap_err().contains("aq-mod=2"));
        }
    }

    #[test]
    fn xparams_capture_works_with_quiet_log_level() {
        crate::init().unwrap();
        // crate::init() sets the level to quiet unless CREMA_FFMPEG_LOG says otherwise.
        if std::env::var_os("CREMA_FFMPEG_LOG").is_none() {
            assert_eq!(unsafe { ffi::av_log_get_level() }, ffi::AV_LOG_QUIET);
        }
        assert!(check_params("libx265", "bogus-key=1", 8).unwrap_err().contains("bogus-key"));
    }

    #[test]
    fn xparams_parse_problem_texts() {
        assert_eq!(parse_problem("Unknown option: foo."), Some(Problem::UnknownKey("foo".into())));
        assert_eq!(
            parse_problem("Invalid value for aq-mode: banana."),
            Some(Problem::BadValue("aq-mode".into(), "banana".into()))
        );
        assert_eq!(parse_problem("Error parsing option 'foo = 1'."), Some(Problem::Rejected("foo".into(), "1".into())));
        assert_eq!(parse_problem("x265 [info]: something"), None);
    }
}
