//! One set of request rules (`crema_engine::request`): the same invalid
//! output request, given to `crema encode` and to `POST /v1/jobs` of a real
//! `crema serve`, is refused by both before anything is encoded, with the
//! same reason; only the field's spelling differs (`--segment-seconds` on the
//! command line, `output.hls.segment_seconds` in the API).

use crate::common::serve::{Api, Server, create_key};
use crate::common::{crema, fixture, tempdir};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// One invalid request: its `crema encode` flags, its `/v1` `output` object,
/// the field as each side names it, and a word the reason must contain.
struct Case {
    flags: &'static [&'static str],
    output: Value,
    cli_field: &'static str,
    api_field: &'static str,
    says: &'static str,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            flags: &["--hls", "--renditions", "360", "--segment-seconds", "30"],
            output: json!({"hls": {"renditions": [360], "segment_seconds": 30.0}}),
            cli_field: "--segment-seconds",
            api_field: "output.hls.segment_seconds",
            says: "seconds",
        },
        Case {
            flags: &["--hls", "--renditions", "5000,360"],
            output: json!({"hls": {"renditions": [5000, 360]}}),
            cli_field: "--renditions",
            api_field: "output.hls.renditions",
            says: "5000",
        },
        Case {
            flags: &["--hls", "--renditions", "144,180,240,288,360,432,480,540,576"],
            output: json!({"hls": {"renditions": [144, 180, 240, 288, 360, 432, 480, 540, 576]}}),
            cli_field: "--renditions",
            api_field: "output.hls.renditions",
            says: "at most 8",
        },
        Case {
            flags: &["--target-height", "100"],
            output: json!({"target_height": 100}),
            cli_field: "--target-height",
            api_field: "output.target_height",
            says: "144",
        },
    ]
}

/// The reason after `FIELD: ` in `text`, which must name `field`.
fn reason_after<'a>(text: &'a str, field: &str) -> &'a str {
    let at = text.find(&format!("{field}: ")).unwrap_or_else(|| panic!("{field:?} not named in {text:?}"));
    text[at + field.len() + 2..].lines().next().unwrap_or_default().trim()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_and_the_api_refuse_the_same_request_for_the_same_reason() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let data = tempdir();
    let key = create_key(data.path());
    let server = Server::start(data.path());
    let api = Api { http: reqwest::Client::new(), base: server.base.clone(), key, n: Default::default() };
    api.wait_up().await;
    let src = fixture("h264_720p_2s.mp4");
    for case in cases() {
        let out = tempdir();
        let mut args: Vec<String> =
            vec!["encode".into(), src.display().to_string(), "-p".into(), "sophon-espresso".into()];
        args.extend(case.flags.iter().map(|s| s.to_string()));
        args.extend(["--output-dir".into(), out.path().display().to_string()]);
        let run = crema(&args);
        assert_eq!(run.code, 2, "{}: usage error expected; stderr: {}", run.cmdline, run.stderr);
        assert!(std::fs::read_dir(out.path()).expect("out dir").next().is_none(), "{}: nothing written", run.cmdline);
        let cli_reason = reason_after(&run.stderr, case.cli_field).to_string();

        let body =
            json!({"source": {"type": "path", "path": src}, "profile": "sophon-espresso", "output": case.output});
        let (st, e) = api.post("/v1/jobs", body).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
        assert_eq!(e["error"]["code"], "validation_error", "{e}");
        let message = e["error"]["message"].as_str().expect("message");
        let api_reason = reason_after(message, case.api_field);

        assert_eq!(cli_reason, api_reason, "one rule, one reason: CLI {:?}, API {message:?}", run.stderr);
        assert!(cli_reason.contains(case.says), "the reason names the limit: {cli_reason:?}");
    }
    let (_, page) = api.get("/v1/jobs").await;
    assert_eq!(page["jobs"].as_array().map(Vec::len), Some(0), "nothing was queued: {page}");
}
