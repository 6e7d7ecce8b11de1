//! `crema watch add|list|remove|pause|resume`: watch-folder rules.
//!
//! Like `crema keys`, these open the store only ([`crema_service::Admin`]):
//! no workers, no recovery. A `crema serve` running on the same data folder
//! re-reads the rules every 2 seconds, so changes take effect there within a
//! few seconds; otherwise rules start with the next `crema serve` (or the
//! desktop app).

use crate::serve::{DataDirArg, runtime};
use crate::{ContainerArg, HlsCodecArg};
use clap::{Args, Subcommand};
use crema_service::{
    ContainerSpec, FailureAction, HlsCodec, HlsSpec, OutputSpec, SuccessAction, WatchRule, WatchRuleSpec,
};
use std::path::{Path, PathBuf};

/// `crema watch` subcommands.
#[derive(Subcommand)]
pub enum WatchCommand {
    /// Watch a folder: files dropped in it are encoded once their copy has finished.
    Add(Box<AddArgs>),
    /// List the rules with their file counts.
    List {
        #[command(flatten)]
        data: DataDirArg,
        /// JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove a rule: it stops, its unfinished jobs are canceled; placed outputs stay.
    Remove {
        /// Rule ID (`wf_…`).
        id: String,
        #[command(flatten)]
        data: DataDirArg,
    },
    /// Pause a rule: nothing new is taken (queued jobs still finish).
    Pause {
        /// Rule ID (`wf_…`).
        id: String,
        #[command(flatten)]
        data: DataDirArg,
    },
    /// Resume a paused rule.
    Resume {
        /// Rule ID (`wf_…`).
        id: String,
        #[command(flatten)]
        data: DataDirArg,
    },
}

/// `crema watch add` options.
#[derive(Args)]
pub struct AddArgs {
    /// The folder to watch.
    folder: PathBuf,
    /// Profile ID of the encodes (see `crema profiles`).
    #[arg(long, short = 'p')]
    profile: String,
    /// Also watch subfolders (camera cards).
    #[arg(long)]
    recursive: bool,
    /// Take only files matching this glob (repeatable; relative to the folder, case-insensitive;
    /// default: common video extensions).
    #[arg(long, value_name = "GLOB")]
    include: Vec<String>,
    /// Never take files or folders matching this glob (repeatable).
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
    /// Where verified outputs go (default FOLDER/crema-encoded), as STEM.PROFILE.mp4.
    #[arg(long, value_name = "DIR")]
    output_dir: Option<PathBuf>,
    /// Container of the single file.
    #[arg(long, value_enum, default_value = "mp4")]
    container: ContainerArg,
    /// Keep audio.
    #[arg(long)]
    audio: bool,
    /// Also write each file's waveform (BBC audiowaveform .dat) beside its output as STEM.PROFILE.dat.
    #[arg(long)]
    waveform: bool,
    /// Score each output against its file once written (VMAF, PSNR, SSIM): the job's `output.quality`.
    #[arg(long)]
    measure: bool,
    /// With sophon-auto: the VMAF (50..99) each delivered file's mean must reach (default 93).
    #[arg(long, value_name = "VMAF")]
    target_vmaf: Option<f64>,
    /// Scale down to this height in pixels (never up; 144..4320).
    #[arg(long)]
    target_height: Option<u32>,
    /// Make an HLS ladder (a STEM.PROFILE.hls/ folder) instead of the single file.
    #[arg(long)]
    hls: bool,
    /// Rung heights in pixels, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1080,720,480,360", requires = "hls")]
    renditions: Vec<u32>,
    /// Video codec of the ladder.
    #[arg(long, value_enum, default_value = "h264", requires = "hls")]
    hls_codec: HlsCodecArg,
    /// Target segment duration in seconds.
    #[arg(long, default_value_t = 6.0, requires = "hls")]
    segment_seconds: f64,
    /// Also keep a progressive MP4 of the rung of this height.
    #[arg(long, requires = "hls")]
    keep_mp4: Option<u32>,
    /// After a verified success: leave, move (to FOLDER/crema-done), move:DIR, or delete.
    #[arg(long, default_value = "leave", value_name = "ACTION")]
    on_success: String,
    /// After a failure: leave, move (to FOLDER/crema-failed, with NAME.error.txt), or move:DIR.
    #[arg(long, default_value = "leave", value_name = "ACTION")]
    on_failure: String,
    /// Seconds size and modification time must stay unchanged before a file is taken.
    #[arg(long, default_value_t = crema_service::DEFAULT_SETTLE_SECONDS)]
    settle_seconds: f64,
    /// Polling mode for network shares: rescan every SECONDS instead of file-system events.
    #[arg(long, value_name = "SECONDS")]
    poll: Option<f64>,
    /// Do not take the files already in the folder; only new or changed ones.
    #[arg(long)]
    no_existing: bool,
    #[command(flatten)]
    data: DataDirArg,
}

fn absolute(p: &Path) -> Result<PathBuf, String> {
    std::path::absolute(p).map_err(|e| format!("{}: {e}", p.display()))
}

fn move_dir(action: &str, what: &str) -> Result<Option<Option<PathBuf>>, String> {
    match action {
        "move" => Ok(Some(None)),
        a if a.starts_with("move:") => Ok(Some(Some(absolute(Path::new(&a[5..]))?))),
        _ => Err(format!("--{what}: {action:?} is not one of the actions")),
    }
}

fn success_action(a: &str) -> Result<SuccessAction, String> {
    match a {
        "leave" => Ok(SuccessAction::Leave),
        "delete" => Ok(SuccessAction::Delete),
        other => match move_dir(other, "on-success") {
            Ok(Some(dir)) => Ok(SuccessAction::Move { dir }),
            _ => Err(format!("--on-success: {other:?}: use leave, move, move:DIR or delete")),
        },
    }
}

fn failure_action(a: &str) -> Result<FailureAction, String> {
    match a {
        "leave" => Ok(FailureAction::Leave),
        other => match move_dir(other, "on-failure") {
            Ok(Some(dir)) => Ok(FailureAction::Move { dir }),
            _ => Err(format!("--on-failure: {other:?}: use leave, move or move:DIR")),
        },
    }
}

fn spec_of(a: &AddArgs) -> Result<WatchRuleSpec, String> {
    // The engine's one rule set, worded with this command's flags, as
    // `crema encode` words it (the service checks it again for the API).
    let shape = a
        .hls
        .then_some(crema_engine::request::HlsShape { renditions: &a.renditions, segment_seconds: a.segment_seconds });
    crema_engine::request::check_output(a.target_height, shape).map_err(|e| e.to_string())?;
    let hls = a.hls.then(|| HlsSpec {
        renditions: a.renditions.clone(),
        codec: match a.hls_codec {
            HlsCodecArg::H264 => HlsCodec::H264,
            HlsCodecArg::Hevc => HlsCodec::Hevc,
        },
        segment_seconds: a.segment_seconds,
        keep_mp4: a.keep_mp4,
    });
    Ok(WatchRuleSpec {
        folder: absolute(&a.folder)?,
        recursive: a.recursive,
        include: a.include.clone(),
        exclude: a.exclude.clone(),
        profile: a.profile.clone(),
        output: OutputSpec {
            container: match a.container {
                ContainerArg::Mp4 => ContainerSpec::Mp4,
                ContainerArg::Mkv => ContainerSpec::Mkv,
            },
            audio: a.audio,
            target_height: a.target_height,
            hls,
            dir: None,
            waveform: a.waveform.then_some(crema_service::WaveformRequest::Enabled(true)),
            measure: a.measure,
            quality_target: a.target_vmaf,
        },
        output_dir: a.output_dir.as_deref().map(absolute).transpose()?,
        on_success: success_action(&a.on_success)?,
        on_failure: failure_action(&a.on_failure)?,
        settle_seconds: Some(a.settle_seconds),
        poll_seconds: a.poll,
        take_existing: !a.no_existing,
    })
}

/// Runs `crema watch …`; returns the process exit code.
pub fn run(cmd: WatchCommand) -> u8 {
    match runtime().and_then(|rt| rt.block_on(run_async(cmd))) {
        Ok(()) => crate::exit::OK,
        Err(e) => {
            eprintln!("crema watch: {e}");
            crate::exit::FAILED
        }
    }
}

fn action_text(s: &SuccessAction) -> String {
    match s {
        SuccessAction::Leave => "leave".into(),
        SuccessAction::Delete => "delete".into(),
        SuccessAction::Move { dir } => format!("move to {}", dir.as_deref().unwrap_or(Path::new("?")).display()),
    }
}

fn failure_text(s: &FailureAction) -> String {
    match s {
        FailureAction::Leave => "leave".into(),
        FailureAction::Move { dir } => format!("move to {}", dir.as_deref().unwrap_or(Path::new("?")).display()),
    }
}

fn describe(r: &WatchRule) {
    let s = &r.spec;
    println!("{}{}", r.id, if r.paused { " (paused)" } else { "" });
    println!("  folder:     {}{}", s.folder.display(), if s.recursive { " (recursive)" } else { "" });
    println!("  profile:    {}", s.profile);
    println!("  outputs:    {}", s.output_dir.as_deref().unwrap_or(Path::new("?")).display());
    println!("  on success: {}; on failure: {}", action_text(&s.on_success), failure_text(&s.on_failure));
    let mode = match s.poll_seconds {
        Some(p) => format!("polling every {p} s"),
        None => "file-system events".into(),
    };
    println!("  settle:     {} s; {mode}", s.settle_seconds.unwrap_or(crema_service::DEFAULT_SETTLE_SECONDS));
    let c = &r.counts;
    println!(
        "  files:      {} pending, {} queued, {} done, {} failed, {} duplicate",
        c.pending, c.queued, c.done, c.failed, c.duplicate
    );
}

async fn run_async(cmd: WatchCommand) -> Result<(), String> {
    match cmd {
        WatchCommand::Add(args) => {
            let spec = spec_of(&args)?;
            let admin = args.data.admin().await?;
            let profile_dir = crema_engine::profile::user_profile_dir();
            let rule = admin.add_watch_rule(spec, profile_dir.as_deref()).await.map_err(|e| e.to_string())?;
            admin.close().await;
            describe(&rule);
            eprintln!(
                "A running `crema serve` on this data folder starts it within a few seconds; otherwise it starts \
                 with the next `crema serve`."
            );
        }
        WatchCommand::List { data, json } => {
            let admin = data.admin().await?;
            let rules = admin.list_watch_rules().await.map_err(|e| e.to_string())?;
            admin.close().await;
            if json {
                println!("{}", serde_json::to_string_pretty(&rules).map_err(|e| e.to_string())?);
            } else if rules.is_empty() {
                println!("no watch folders");
            } else {
                for r in &rules {
                    describe(r);
                }
            }
        }
        WatchCommand::Remove { id, data } => {
            let admin = data.admin().await?;
            let r = admin.remove_watch_rule(&id).await.map_err(|e| e.to_string())?;
            admin.close().await;
            println!("removed {} ({})", r.id, r.spec.folder.display());
        }
        WatchCommand::Pause { id, data } => {
            let admin = data.admin().await?;
            let r = admin.pause_watch_rule(&id).await.map_err(|e| e.to_string())?;
            admin.close().await;
            println!("paused {} ({})", r.id, r.spec.folder.display());
        }
        WatchCommand::Resume { id, data } => {
            let admin = data.admin().await?;
            let r = admin.resume_watch_rule(&id).await.map_err(|e| e.to_string())?;
            admin.close().await;
            println!("resumed {} ({})", r.id, r.spec.folder.display());
        }
    }
    Ok(())
}
