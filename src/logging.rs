//! Logging to `--log` only, as text or JSON lines (`{"level","msg","time"}` like runc). The
//! container's stdio is never a log target: during `create` those fds belong to the workload.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

/// `--log-format`: plain lines or JSON lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

static LOG_FD: std::sync::OnceLock<std::os::fd::RawFd> = std::sync::OnceLock::new();

/// The log file's fd, which forked shims must keep open.
pub fn fd() -> Option<std::os::fd::RawFd> {
    LOG_FD.get().copied()
}

pub fn init(path: Option<&Path>, format: LogFormat, debug: bool) -> std::io::Result<()> {
    let Some(path) = path else {
        return Ok(());
    };
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let _ = LOG_FD.set(std::os::fd::AsRawFd::as_raw_fd(&file));
    let level = if debug {
        log::LevelFilter::Debug
    } else {
        log::LevelFilter::Info
    };
    let mut builder = env_logger::Builder::new();
    // The HTTP and TLS crates' debug output is per header and per handshake step: ours says
    // which call was made.
    builder
        .filter_level(level)
        .filter_module("ureq", log::LevelFilter::Warn)
        .filter_module("rustls", log::LevelFilter::Warn)
        .target(env_logger::Target::Pipe(Box::new(file)));
    builder.format(move |buf, rec| {
        let time = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
        let level = rec.level().as_str().to_ascii_lowercase();
        match format {
            LogFormat::Json => {
                let line = serde_json::json!({"level": level, "msg": rec.args().to_string(), "time": time.to_string()});
                writeln!(buf, "{line}")
            }
            LogFormat::Text => writeln!(buf, "{time} {level} {}", rec.args()),
        }
    });
    // A second init (tests calling in one process) keeps the first logger.
    let _ = builder.try_init();
    Ok(())
}
