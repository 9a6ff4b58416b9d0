//! Proxmox's escaping of the description's `#` lines (pve-container src/PVE/LXC/Config.pm,
//! `encode_text` / `decode_text` from PVE::Tools).

/// Proxmox's `encode_text` for `#` lines: `%`, `:`, control and non-ASCII bytes become `%XX`.
pub fn encode_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        let safe = matches!(b, 0x20..=0x24 | 0x26..=0x39 | 0x3b..=0x7e);
        if safe {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Proxmox's `decode_text`: `%XX` unescaped, then read as UTF-8.
pub fn decode_text(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pve::config::CtConfig;

    #[test]
    fn description_encoding() {
        assert_eq!(encode_text("a:b%c d\te\u{e9}"), "a%3Ab%25c d%09e%C3%A9");
        assert_eq!(
            decode_text("a%3Ab%25c%20d%C3%A9%zz%4"),
            "a:b%c d\u{e9}%zz%4"
        );
        let c = CtConfig {
            description: "x: 1\n\nlast".into(),
            ..Default::default()
        };
        assert_eq!(c.to_conf_string(), "#x%3A 1\n#\n#last\n");
        let back = CtConfig::parse(&c.to_conf_string()).unwrap();
        assert_eq!(back.description, "x: 1\n\nlast\n");
    }
}
