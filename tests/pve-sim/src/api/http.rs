//! Just enough HTTP/1.1 for API clients: the request head, a body reader (Content-Length or
//! chunked), urlencoded/JSON parameters, and the response in pve-api-daemon's shape. Every
//! connection carries one request (`Connection: close`), which every client handles.

use std::collections::BTreeMap;
use std::io::{self, BufRead, Read, Write};

use serde_json::Value;

/// Largest request head we accept.
const MAX_HEAD: usize = 64 * 1024;
/// Largest non-upload body we read into memory.
pub const MAX_BODY: u64 = 16 * 1024 * 1024;

pub struct Request {
    pub method: String,
    /// The raw (still percent-encoded) path, e.g. `/api2/json/nodes/n1/lxc`.
    pub path: String,
    pub query: Vec<(String, String)>,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")?.trim().parse().ok()
    }

    pub fn chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"))
    }

    pub fn has_body(&self) -> bool {
        self.chunked() || self.content_length().unwrap_or(0) > 0
    }

    /// The media type of the body without parameters, lower-cased.
    pub fn content_type(&self) -> String {
        self.header("content-type")
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }
}

fn read_line(r: &mut impl BufRead, budget: &mut usize) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let n = r
        .by_ref()
        .take(*budget as u64 + 1)
        .read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if n > *budget {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "request head too large",
        ));
    }
    *budget -= n;
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    Ok(Some(String::from_utf8_lossy(&line).into_owned()))
}

/// Reads the request line and headers; `None` when the peer closed without a request.
pub fn read_head(r: &mut impl BufRead) -> io::Result<Option<Request>> {
    let mut budget = MAX_HEAD;
    let Some(first) = read_line(r, &mut budget)? else {
        return Ok(None);
    };
    let mut parts = first.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad request line",
        ));
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = Vec::new();
    while let Some(line) = read_line(r, &mut budget)? {
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    Ok(Some(Request {
        method: method.to_string(),
        path: path.to_string(),
        query: parse_urlencoded(query),
        headers,
    }))
}

/// Percent-decoding; `plus` also turns `+` into a space (form encoding).
pub fn percent_decode(s: &str, plus: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' if plus => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn parse_urlencoded(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

/// A chunked request body.
pub struct Chunked<R> {
    inner: R,
    left: u64,
    done: bool,
}

impl<R: BufRead> Chunked<R> {
    pub fn new(inner: R) -> Self {
        Chunked {
            inner,
            left: 0,
            done: false,
        }
    }
}

impl<R: BufRead> Read for Chunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        let mut budget = MAX_HEAD;
        if self.left == 0 {
            let line = read_line(&mut self.inner, &mut budget)?.unwrap_or_default();
            let size = line.split(';').next().unwrap_or("").trim();
            self.left = u64::from_str_radix(size, 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            if self.left == 0 {
                // Trailers up to the empty line.
                while let Some(l) = read_line(&mut self.inner, &mut budget)? {
                    if l.is_empty() {
                        break;
                    }
                }
                self.done = true;
                return Ok(0);
            }
        }
        let want = buf.len().min(self.left as usize);
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.left -= n as u64;
        if self.left == 0 {
            read_line(&mut self.inner, &mut budget)?;
        }
        Ok(n)
    }
}

/// Turns a JSON body value into the string Perl would see (`true` → `1`).
fn json_scalar(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.into()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Parameters of a POST/PUT body by its content type.
pub fn body_params(content_type: &str, body: &[u8]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(out);
    }
    match content_type {
        "application/json" => {
            let v: Value = serde_json::from_slice(body).map_err(|e| format!("{e}"))?;
            let Value::Object(m) = v else {
                return Err("JSON body is not an object".into());
            };
            for (k, v) in m {
                if let Some(s) = json_scalar(&v) {
                    out.insert(k, s);
                }
            }
        }
        // Clients that send no type mean a form (as LWP and curl -d do).
        "application/x-www-form-urlencoded" | "" => {
            out.extend(parse_urlencoded(&String::from_utf8_lossy(body)));
        }
        other => return Err(format!("unsupported content type '{other}'")),
    }
    Ok(out)
}

/// Writes one response and ends the connection's only exchange.
pub fn write_response(w: &mut impl Write, code: u16, reason: &str, body: &[u8]) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {code} {reason}\r\n");
    head.push_str("Server: pve-api-daemon/3.0\r\n");
    head.push_str("Cache-Control: max-age=0\r\n");
    head.push_str("Pragma: no-cache\r\n");
    head.push_str("Connection: close\r\n");
    if !body.is_empty() {
        head.push_str("Content-Type: application/json;charset=UTF-8\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    w.write_all(head.as_bytes())?;
    w.write_all(body)?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        assert_eq!(
            percent_decode("local%3Avztmpl%2Fx.tar", false),
            "local:vztmpl/x.tar"
        );
        assert_eq!(percent_decode("a+b%2", true), "a b%2");
        assert_eq!(
            parse_urlencoded("a=1&b=x%20y&c"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y".into()),
                ("c".into(), "".into())
            ]
        );
    }

    #[test]
    fn chunked_body() {
        let raw = b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let mut s = String::new();
        Chunked::new(&raw[..]).read_to_string(&mut s).unwrap();
        assert_eq!(s, "abcde");
    }

    #[test]
    fn json_bodies_become_perl_strings() {
        let p = body_params("application/json", br#"{"a":true,"b":5,"c":"x","d":null}"#).unwrap();
        assert_eq!(p["a"], "1");
        assert_eq!(p["b"], "5");
        assert_eq!(p["c"], "x");
        assert!(!p.contains_key("d"));
    }
}
