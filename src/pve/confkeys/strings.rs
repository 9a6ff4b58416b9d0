//! Formats of the other string keys (`parent`, `hookscript`, `tags`, `startup`, `timezone`,
//! `entrypoint`, `env`), and the list splitting and word characters the families share.

/// `PVE::Tools::split_list`: separators are `,`, `;`, whitespace and NUL.
pub fn split_list(v: &str) -> impl Iterator<Item = &str> {
    v.split(|c: char| c == ',' || c == ';' || c == '\0' || c.is_whitespace())
        .filter(|s| !s.is_empty())
}

pub(super) fn word_chars(v: &str, extra: &[u8]) -> bool {
    !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || extra.contains(&b))
}

pub(super) fn verify_configid(v: &str) -> Result<(), String> {
    let b = v.as_bytes();
    let ok = b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!("invalid configuration ID '{v}'"))
    }
}

pub(super) fn verify_volume_id(v: &str) -> Result<(), String> {
    match v.split_once(':') {
        Some((sid, name)) if !name.is_empty() && word_chars(sid, b"-.") => Ok(()),
        _ => Err(format!("unable to parse volume ID '{v}'")),
    }
}

/// `pve-tag`: `[a-z0-9_][a-z0-9_\-\+\.]*`, case-insensitive.
pub fn verify_tag(t: &str) -> Result<(), String> {
    let b = t.as_bytes();
    let first = b
        .first()
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_');
    if first
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_-+.".contains(c))
    {
        Ok(())
    } else {
        Err("invalid characters in tag".into())
    }
}

pub(super) fn verify_tag_list(v: &str) -> Result<(), String> {
    split_list(v).try_for_each(verify_tag)
}

/// Tags as Proxmox stores them: split, lowercased, sorted, deduplicated, `;`-joined.
pub fn normalize_tags(v: &str) -> String {
    let mut tags: Vec<String> = split_list(v).map(|t| t.to_ascii_lowercase()).collect();
    tags.sort();
    tags.dedup();
    tags.join(";")
}

pub(super) fn verify_startup(v: &str) -> Result<(), String> {
    let ok = !v.is_empty()
        && v.split(',').filter(|p| !p.trim().is_empty()).all(|p| {
            let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            digits(p)
                || p.strip_prefix("order=").is_some_and(digits)
                || p.strip_prefix("up=").is_some_and(digits)
                || p.strip_prefix("down=").is_some_and(digits)
        });
    if ok {
        Ok(())
    } else {
        Err("unable to parse startup options".into())
    }
}

pub(super) fn verify_timezone(v: &str) -> Result<(), String> {
    if v == "host" || v == "UTC" {
        return Ok(());
    }
    let tab = std::fs::read_to_string("/usr/share/zoneinfo/zone.tab").unwrap_or_default();
    let known = tab
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .any(|l| l.split('\t').nth(2) == Some(v));
    if known {
        Ok(())
    } else {
        Err(format!("invalid time zone '{v}'"))
    }
}

/// Characters `entrypoint` and env values may not contain: `\x00-\x08`, `\x0a-\x1f`, `\x7f`.
fn forbidden_ctl(c: char) -> bool {
    matches!(c, '\x00'..='\x08' | '\x0a'..='\x1f' | '\x7f')
}

pub(super) fn entrypoint_pattern(v: &str) -> bool {
    !v.is_empty() && !v.chars().any(forbidden_ctl)
}

/// `(?:\w+=[^ctl]*)(?:\0\w+=[^ctl]*)*` where ctl excludes TAB.
pub(super) fn env_pattern(v: &str) -> bool {
    v.split('\0').all(|e| match e.split_once('=') {
        Some((name, val)) => word_chars(name, b"") && !val.chars().any(forbidden_ctl),
        None => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_normalised() {
        assert_eq!(normalize_tags("b,A; a c"), "a;b;c");
    }
}
