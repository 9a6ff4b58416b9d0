//! The part of Perl's Getopt::Long that `pct` relies on (`PVE::JSONSchema::get_options`):
//! `--x` and `-x` alike, `--x=v` and `--x v`, unique abbreviations, case-insensitive names,
//! options and positionals in any order, `--` ends options. Booleans are `name:s`: a following
//! argument is taken as their value unless it looks like an option.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `name:s`: optional value (booleans).
    Optional,
    /// `name=s`: mandatory value.
    Mandatory,
    /// `name=s@`: mandatory value, repeatable; the values are joined with `,`.
    List,
}

#[derive(Debug, Default)]
pub struct Parsed {
    pub opts: BTreeMap<String, String>,
    pub positional: Vec<String>,
}

/// Parses `args` against `spec` (option name, kind). `Err` carries the warnings Getopt::Long
/// prints before `pct` answers `400 unable to parse option`.
pub fn parse(args: &[String], spec: &[(String, Kind)]) -> Result<Parsed, Vec<String>> {
    let mut out = Parsed::default();
    let mut lists: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut warnings = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            out.positional.extend(args[i..].iter().cloned());
            break;
        }
        let body = match arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) {
            Some(b) if !b.is_empty() => b,
            _ => {
                out.positional.push(arg.clone());
                continue;
            }
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let (canon, kind) = match resolve(name, spec) {
            Ok(found) => found,
            Err(w) => {
                warnings.push(w);
                continue;
            }
        };
        let value = match (kind, inline) {
            (Kind::Optional, Some(v)) => v,
            (Kind::Optional, None) => match args.get(i) {
                // An optional value never swallows something that looks like an option.
                Some(next) if next != "--" && !(next.starts_with('-') && next.len() > 1) => {
                    i += 1;
                    next.clone()
                }
                _ => String::new(),
            },
            (_, Some(v)) if !v.is_empty() => v,
            (_, Some(_)) => {
                warnings.push(format!("Option {name} requires an argument"));
                continue;
            }
            (_, None) => match args.get(i) {
                Some(next) => {
                    i += 1;
                    next.clone()
                }
                None => {
                    warnings.push(format!("Option {name} requires an argument"));
                    continue;
                }
            },
        };
        if kind == Kind::List {
            lists.entry(canon.clone()).or_default().push(value);
        } else {
            out.opts.insert(canon.clone(), value);
        }
    }
    for (k, v) in lists {
        out.opts.insert(k, v.join(","));
    }
    if warnings.is_empty() {
        Ok(out)
    } else {
        Err(warnings)
    }
}

/// Exact (case-insensitive) match first, then a unique prefix.
fn resolve(name: &str, spec: &[(String, Kind)]) -> Result<(String, Kind), String> {
    let lower = name.to_ascii_lowercase();
    if let Some((n, k)) = spec.iter().find(|(n, _)| n.to_ascii_lowercase() == lower) {
        return Ok((n.clone(), *k));
    }
    let hits: Vec<&(String, Kind)> = spec
        .iter()
        .filter(|(n, _)| n.to_ascii_lowercase().starts_with(&lower))
        .collect();
    match hits.as_slice() {
        [(n, k)] => Ok((n.clone(), *k)),
        [] => Err(format!("Unknown option: {name}")),
        many => {
            let names: Vec<&str> = many.iter().map(|(n, _)| n.as_str()).collect();
            Err(format!("Option {name} is ambiguous ({})", names.join(", ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Vec<(String, Kind)> {
        vec![
            ("memory".into(), Kind::Mandatory),
            ("mp0".into(), Kind::Mandatory),
            ("force".into(), Kind::Optional),
            ("purge".into(), Kind::Optional),
            ("forceStop".into(), Kind::Optional),
            ("tags".into(), Kind::List),
        ]
    }

    fn a(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn both_prefixes_and_forms() {
        let p = parse(&a(&["-memory", "512", "100", "--mp0=/a,mp=/b"]), &spec()).unwrap();
        assert_eq!(p.opts["memory"], "512");
        assert_eq!(p.opts["mp0"], "/a,mp=/b");
        assert_eq!(p.positional, vec!["100"]);
    }

    #[test]
    fn booleans_take_values_unless_an_option_follows() {
        let p = parse(&a(&["100", "--force", "--purge"]), &spec()).unwrap();
        assert_eq!(p.opts["force"], "");
        assert_eq!(p.opts["purge"], "");
        let p = parse(&a(&["--force", "0", "100"]), &spec()).unwrap();
        assert_eq!(p.opts["force"], "0");
        // Like Getopt::Long, a positional after a boolean becomes its value.
        let p = parse(&a(&["--force", "100"]), &spec()).unwrap();
        assert_eq!(p.opts["force"], "100");
        assert!(p.positional.is_empty());
    }

    #[test]
    fn abbreviations_case_and_errors() {
        let p = parse(&a(&["--mem", "64", "--forcestop", "1"]), &spec()).unwrap();
        assert_eq!(p.opts["memory"], "64");
        assert_eq!(p.opts["forceStop"], "1");
        let e = parse(&a(&["--bogus", "1"]), &spec()).unwrap_err();
        assert_eq!(e, vec!["Unknown option: bogus"]);
        let e = parse(&a(&["--f"]), &spec()).unwrap_err();
        assert_eq!(e, vec!["Option f is ambiguous (force, forceStop)"]);
        let e = parse(&a(&["--memory"]), &spec()).unwrap_err();
        assert_eq!(e, vec!["Option memory requires an argument"]);
    }

    #[test]
    fn double_dash_and_lists() {
        let p = parse(
            &a(&["100", "--tags", "a", "--tags=b", "--", "-x", "--force"]),
            &spec(),
        )
        .unwrap();
        assert_eq!(p.opts["tags"], "a,b");
        assert_eq!(p.positional, vec!["100", "-x", "--force"]);
        let p = parse(&a(&["-", "x"]), &spec()).unwrap();
        assert_eq!(p.positional, vec!["-", "x"]);
    }
}
