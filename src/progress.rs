//! Progress of the long steps of a template import (packing, upload): a process-wide sink those
//! steps report bytes to. Nothing is shown unless a command installed one; `create` pays an
//! uncontended lock per buffer uploaded.

use std::io::{self, Read};
use std::sync::Mutex;

/// Where progress goes: a line redrawn in place on a terminal, or log lines.
pub trait Sink: Send {
    /// `done` of `total` bytes of `phase` ("packing", "uploading"); `total` 0 if unknown.
    fn update(&mut self, phase: &str, done: u64, total: u64);
}

static SINK: Mutex<Option<Box<dyn Sink>>> = Mutex::new(None);

/// Install `sink` for the rest of the process (or remove it with `None`).
pub fn install(sink: Option<Box<dyn Sink>>) {
    *SINK.lock().unwrap_or_else(|e| e.into_inner()) = sink;
}

/// Whether anyone listens (so callers skip work done only for progress).
pub fn active() -> bool {
    SINK.lock().map(|s| s.is_some()).unwrap_or(false)
}

pub fn report(phase: &str, done: u64, total: u64) {
    if let Some(s) = SINK.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        s.update(phase, done, total);
    }
}

/// A reader that reports the bytes read through it.
pub struct Reader<'a> {
    inner: &'a mut dyn Read,
    phase: &'static str,
    done: u64,
    total: u64,
}

impl<'a> Reader<'a> {
    pub fn new(inner: &'a mut dyn Read, phase: &'static str, total: u64) -> Self {
        Reader {
            inner,
            phase,
            done: 0,
            total,
        }
    }
}

impl Read for Reader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        report(self.phase, self.done, self.total);
        Ok(n)
    }
}

/// `done / total (P%)` in MiB, as the terminal line shows it.
pub fn line(phase: &str, done: u64, total: u64) -> String {
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    if total == 0 {
        return format!("{phase}: {:.1} MiB", mib(done));
    }
    let pct = (done.min(total) * 100) / total;
    format!("{phase}: {:.1} / {:.1} MiB ({pct}%)", mib(done), mib(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_shows_bytes_and_percent() {
        assert_eq!(
            line("uploading", 512 * 1024, 1024 * 1024),
            "uploading: 0.5 / 1.0 MiB (50%)"
        );
        assert_eq!(line("packing", 0, 0), "packing: 0.0 MiB");
        assert_eq!(line("packing", 3, 2), "packing: 0.0 / 0.0 MiB (100%)");
    }
}
