//! A streaming `multipart/form-data` reader for uploads: small fields are kept in memory, the
//! file part is written to a sink as it arrives (templates can be large).

use std::io::{self, BufRead, Write};

/// Largest non-file field.
const MAX_FIELD: usize = 64 * 1024;

pub struct Multipart<'a> {
    r: &'a mut dyn BufRead,
    /// `\r\n--<boundary>`.
    delim: Vec<u8>,
    buf: Vec<u8>,
    eof: bool,
    done: bool,
    started: bool,
}

/// A part's `Content-Disposition`: `name` and, for a file, `filename`.
pub struct PartHead {
    pub name: String,
    pub filename: Option<String>,
}

/// `boundary=…` of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').find_map(|p| {
        let v = p.trim().strip_prefix("boundary=")?;
        Some(v.trim_matches('"').to_string())
    })
}

fn disposition_param(d: &str, key: &str) -> Option<String> {
    d.split(';').find_map(|p| {
        let v = p.trim().strip_prefix(key)?.strip_prefix('=')?;
        Some(v.trim_matches('"').to_string())
    })
}

impl<'a> Multipart<'a> {
    pub fn new(r: &'a mut dyn BufRead, boundary: &str) -> Self {
        // The first delimiter has no CRLF before it: pretend the body starts with one.
        Multipart {
            r,
            delim: format!("\r\n--{boundary}").into_bytes(),
            buf: b"\r\n".to_vec(),
            eof: false,
            done: false,
            started: false,
        }
    }

    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        let data = self.r.fill_buf()?;
        if data.is_empty() {
            self.eof = true;
            return Ok(false);
        }
        self.buf.extend_from_slice(data);
        let n = data.len();
        self.r.consume(n);
        Ok(true)
    }

    /// Passes everything up to the next delimiter to `sink` and consumes the delimiter; then
    /// notes whether it was the closing one (`--`).
    fn until_delim(&mut self, sink: &mut dyn FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        loop {
            if let Some(pos) = find(&self.buf, &self.delim) {
                sink(&self.buf[..pos])?;
                self.buf.drain(..pos + self.delim.len());
                while self.buf.len() < 2 && self.fill()? {}
                if self.buf.starts_with(b"--") {
                    self.done = true;
                }
                // Rest of the delimiter line.
                loop {
                    if let Some(nl) = self.buf.iter().position(|b| *b == b'\n') {
                        self.buf.drain(..=nl);
                        break;
                    }
                    if !self.fill()? {
                        self.buf.clear();
                        break;
                    }
                }
                return Ok(());
            }
            // Keep what could be the start of a delimiter.
            let keep = self.delim.len().min(self.buf.len());
            let safe = self.buf.len() - keep;
            if safe > 0 {
                sink(&self.buf[..safe])?;
                self.buf.drain(..safe);
            }
            if !self.fill()? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "multipart body ends without its closing boundary",
                ));
            }
        }
    }

    fn line(&mut self) -> io::Result<String> {
        loop {
            if let Some(nl) = self.buf.iter().position(|b| *b == b'\n') {
                let l: Vec<u8> = self.buf.drain(..=nl).collect();
                return Ok(String::from_utf8_lossy(&l).trim_end().to_string());
            }
            if self.buf.len() > MAX_FIELD || !self.fill()? {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "bad part header",
                ));
            }
        }
    }

    /// The next part's head; `None` after the closing delimiter.
    pub fn next_part(&mut self) -> io::Result<Option<PartHead>> {
        if !self.started {
            // Skip the preamble up to the first delimiter.
            self.started = true;
            self.until_delim(&mut |_| Ok(()))?;
        }
        if self.done {
            return Ok(None);
        }
        let mut disposition = String::new();
        loop {
            let l = self.line()?;
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.trim().eq_ignore_ascii_case("content-disposition") {
                    disposition = v.trim().to_string();
                }
            }
        }
        Ok(Some(PartHead {
            name: disposition_param(&disposition, "name").unwrap_or_default(),
            filename: disposition_param(&disposition, "filename"),
        }))
    }

    /// A small field's value.
    pub fn value(&mut self) -> io::Result<String> {
        let mut v = Vec::new();
        self.until_delim(&mut |d| {
            if v.len() + d.len() > MAX_FIELD {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "field too large",
                ));
            }
            v.extend_from_slice(d);
            Ok(())
        })?;
        Ok(String::from_utf8_lossy(&v).into_owned())
    }

    /// Streams the current part into `w`; returns the byte count.
    pub fn copy_to(&mut self, w: &mut dyn Write) -> io::Result<u64> {
        let mut n = 0u64;
        self.until_delim(&mut |d| {
            n += d.len() as u64;
            w.write_all(d)
        })?;
        Ok(n)
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_then_file() {
        let body = concat!(
            "preamble\r\n--XX\r\n",
            "Content-Disposition: form-data; name=\"content\"\r\n\r\nvztmpl\r\n--XX\r\n",
            "Content-Disposition: form-data; name=\"filename\"; filename=\"a b.tar\"\r\n",
            "Content-Type: application/octet-stream\r\n\r\nDATA\r\n--X-not\r\n--XX--\r\n",
        )
        .as_bytes();
        let mut r = body;
        let mut m = Multipart::new(&mut r, "XX");
        let p = m.next_part().unwrap().unwrap();
        assert_eq!(p.name, "content");
        assert_eq!(m.value().unwrap(), "vztmpl");
        let p = m.next_part().unwrap().unwrap();
        assert_eq!(p.name, "filename");
        assert_eq!(p.filename.as_deref(), Some("a b.tar"));
        let mut out = Vec::new();
        m.copy_to(&mut out).unwrap();
        assert_eq!(out, b"DATA\r\n--X-not");
        assert!(m.next_part().unwrap().is_none());
    }
}
