//! Commands for a remote POSIX shell (the `ssh` backend runs `pct` on the node through one): every
//! argument is quoted so that any string arrives as the same single argument.

/// Characters that never need quoting.
fn plain(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b))
}

/// One argument as the shell must see it: bare if harmless, else in single quotes, with each
/// `'` written as `'\''` (the only character single quotes cannot hold).
pub fn quote(arg: &str) -> String {
    if plain(arg) {
        return arg.to_string();
    }
    format!("'{}'", arg.replace('\'', r"'\''"))
}

/// A whole command line, run with a UTF-8 locale: pct decodes its arguments by the locale.
pub fn command_line<S: AsRef<str>>(args: &[S]) -> String {
    let mut line = String::from("LC_ALL=C.UTF-8");
    for a in args {
        line.push(' ');
        line.push_str(&quote(a.as_ref()));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    const HARD: &[&str] = &[
        "",
        "plain",
        "two words",
        "it's",
        "'",
        "''",
        "\"double\"",
        "$HOME `id` $(id)",
        "back\\slash",
        "new\nline",
        "tab\there",
        "*?[glob]",
        "; rm -rf / #",
        "-flag",
        "--description=a, b",
        "ünïcødé ✓",
        "!bang",
        "~tilde",
    ];

    #[test]
    fn plain_arguments_stay_readable() {
        assert_eq!(quote("100123"), "100123");
        assert_eq!(quote("--memory"), "--memory");
        assert_eq!(quote("/var/lib/x,ro=1"), "/var/lib/x,ro=1");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(
            command_line(&["pct", "status", "100"]),
            "LC_ALL=C.UTF-8 pct status 100"
        );
    }

    /// What a real shell makes of the line: each argument back, byte for byte.
    #[test]
    fn every_string_round_trips_through_sh() {
        let mut args = vec!["printf", "%s\\0"];
        args.extend_from_slice(HARD);
        let line = command_line(&args);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&line)
            .output()
            .unwrap();
        assert!(out.status.success(), "{line}");
        let got: Vec<&[u8]> = out.stdout.split(|b| *b == 0).collect();
        let want: Vec<&[u8]> = HARD
            .iter()
            .map(|s| s.as_bytes())
            .chain([&b""[..]])
            .collect();
        assert_eq!(got, want, "{line}");
    }
}
