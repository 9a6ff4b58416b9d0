//! Character rules of the formats we write into: Proxmox config values, LXC's `lxc.init.cmd`
//! splitting, fstab fields of `lxc.mount.entry`, Proxmox property strings.

/// Characters Proxmox refuses in `entrypoint` and `env` values: `\x00-\x08`, `\x0a-\x1f`, `\x7f`
/// (TAB is allowed): the patterns of both keys in pve-container src/PVE/LXC/Config.pm.
pub fn has_pve_ctl(s: &str) -> bool {
    s.chars()
        .any(|c| matches!(c, '\u{0}'..='\u{8}' | '\u{a}'..='\u{1f}' | '\u{7f}'))
}

/// Any ASCII control character, TAB included.
pub fn has_ctl(s: &str) -> bool {
    s.chars().any(|c| c.is_ascii_control())
}

/// C `isspace` in the C locale, as LXC's `lxc_string_split_quoted` uses it.
fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r')
}

/// One argument of `lxc.init.cmd`, written so that LXC's splitter gives it back unchanged.
///
/// LXC splits on whitespace; a word starting with `'` or `"` runs to the next same quote, with no
/// escapes, and the character after the closing quote starts a new word; quotes inside an unquoted
/// word are literal. So: bare if possible, else `'…'`, else `"…"`, else not expressible.
pub fn lxc_quote(arg: &str) -> Option<String> {
    if has_pve_ctl(arg) {
        return None;
    }
    let needs_quotes =
        arg.is_empty() || arg.chars().any(is_c_space) || arg.starts_with(['\'', '"']);
    if !needs_quotes {
        return Some(arg.to_string());
    }
    if !arg.contains('\'') {
        return Some(format!("'{arg}'"));
    }
    if !arg.contains('"') {
        return Some(format!("\"{arg}\""));
    }
    None
}

/// Join `args` for `lxc.init.cmd`; `Err(i)` names the first argument that cannot be written.
///
/// LXC's config parser removes one pair of quotes around a whole value (`'a b'` -> `a b`), so a
/// command line that starts and ends with the same quote gets one more pair for it to remove.
pub fn lxc_join(args: &[String]) -> Result<String, usize> {
    let mut words = Vec::with_capacity(args.len());
    for (i, a) in args.iter().enumerate() {
        words.push(lxc_quote(a).ok_or(i)?);
    }
    let joined = words.join(" ");
    Ok(if is_outer_quoted(&joined) {
        let q = &joined[..1];
        format!("{q}{joined}{q}")
    } else {
        joined
    })
}

/// Whether LXC's config parser would strip `v`'s first and last character (a matching pair of
/// `'` or `"`).
pub fn is_outer_quoted(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() > 1 && matches!(b[0], b'\'' | b'"') && b[b.len() - 1] == b[0]
}

/// Escape a path for an fstab field (`getmntent` decodes `\040 \011 \012 \134`).
/// `None` if it holds another control character.
pub fn fstab_escape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            ' ' => out.push_str("\\040"),
            '\t' => out.push_str("\\011"),
            '\n' => out.push_str("\\012"),
            '\\' => out.push_str("\\134"),
            c if c.is_ascii_control() => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// Proxmox's `env` key pattern: `\w+` (ASCII letters, digits, underscore).
pub fn is_env_key(k: &str) -> bool {
    !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Proxmox's `dns-name` format (`hostname`): labels of `[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?`
/// joined by dots, at most 255 characters.
pub fn is_dns_name(s: &str) -> bool {
    if s.is_empty() || s.len() > 255 {
        return false;
    }
    s.split('.').all(|label| {
        let b = label.as_bytes();
        !b.is_empty()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
    })
}

/// Whether `s` can stand in a Proxmox property string (`rootfs`, `mpN`) as a bare path or a
/// `mp=` value: no `,` (separator), no `=` (would read as a key), no whitespace or control
/// characters, no quotes.
pub fn is_propstr_safe(s: &str) -> bool {
    !s.is_empty()
        && !s
            .chars()
            .any(|c| matches!(c, ',' | '=' | '"' | '\'') || c.is_whitespace() || c.is_control())
}

/// A single mount option as OCI gives it: no separators or whitespace that would change the
/// meaning of the fstab line.
pub fn is_plain_option(o: &str) -> bool {
    !o.is_empty()
        && !o
            .chars()
            .any(|c| c == ',' || c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// LXC's config parser (outer quote pair removed) followed by its splitter
    /// (lxc_string_split_quoted), re-implemented to check round trips.
    fn lxc_split(s: &str) -> Vec<String> {
        let s = if is_outer_quoted(s) {
            &s[1..s.len() - 1]
        } else {
            s
        };
        let mut out = Vec::new();
        let mut state = ' ';
        let mut word = String::new();
        for c in s.chars() {
            match state {
                ' ' => {
                    if is_c_space(c) {
                        continue;
                    }
                    word.clear();
                    if c == '"' || c == '\'' {
                        state = c;
                    } else {
                        word.push(c);
                        state = 'a';
                    }
                }
                'a' => {
                    if is_c_space(c) {
                        out.push(std::mem::take(&mut word));
                        state = ' ';
                    } else {
                        word.push(c);
                    }
                }
                q => {
                    if c == q {
                        out.push(std::mem::take(&mut word));
                        state = ' ';
                    } else {
                        word.push(c);
                    }
                }
            }
        }
        if state == 'a' {
            out.push(word);
        }
        out
    }

    #[test]
    fn quoting_round_trips_through_lxc_splitter() {
        let cases: Vec<Vec<&str>> = vec![
            vec!["/bin/sh", "-c", "echo serving; sleep 30"],
            vec!["sh", "-c", "echo 'hi there'"],
            vec!["printf", "say \"x\""],
            vec!["a\"b", "c'd", ""],
            vec!["'lead", "\"lead", "tab\there"],
            vec!["my prog", "x y"],
            vec!["one arg"],
            vec!["\"q\"", "z"],
        ];
        for args in cases {
            let args: Vec<String> = args.into_iter().map(String::from).collect();
            let joined = lxc_join(&args).unwrap();
            assert_eq!(lxc_split(&joined), args, "{joined}");
        }
    }

    #[test]
    fn quoting_refuses_what_lxc_cannot_carry() {
        assert_eq!(lxc_join(&["ok".into(), "both ' and \"".into()]), Err(1));
        assert_eq!(lxc_join(&["new\nline".into()]), Err(0));
        assert_eq!(
            lxc_quote("echo serving; sleep 30").unwrap(),
            "'echo serving; sleep 30'"
        );
        assert_eq!(lxc_quote("plain").unwrap(), "plain");
        assert_eq!(lxc_quote("").unwrap(), "''");
        assert_eq!(lxc_join(&["a b".into()]).unwrap(), "''a b''");
        assert_eq!(lxc_join(&["a".into(), "b c".into()]).unwrap(), "a 'b c'");
    }

    #[test]
    fn fstab_escaping() {
        assert_eq!(fstab_escape("/a b\\c").unwrap(), "/a\\040b\\134c");
        assert_eq!(fstab_escape("/x\u{1}"), None);
    }

    #[test]
    fn dns_names_and_env_keys() {
        assert!(is_dns_name("webpod"));
        assert!(is_dns_name("a-1.example.com"));
        assert!(!is_dns_name("under_score"));
        assert!(!is_dns_name("-lead"));
        assert!(!is_dns_name("trail."));
        assert!(!is_dns_name(&"a".repeat(256)));
        assert!(is_env_key("PATH_2"));
        assert!(!is_env_key("A-B"));
        assert!(!is_env_key(""));
    }
}
