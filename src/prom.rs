//! Prometheus's text exposition format (version 0.0.4): families in the order first added,
//! each with one `# HELP` and one `# TYPE` line before its samples. Pure: callers gather the
//! numbers; this only writes them.

use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
    Histogram,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Histogram => "histogram",
        }
    }
}

/// Name suffix (`_bucket`, `_sum`, `_count` of a histogram; empty otherwise), labels, value.
type Sample = (&'static str, Vec<(String, String)>, f64);

#[derive(Debug)]
struct Family {
    name: String,
    help: String,
    kind: Kind,
    samples: Vec<Sample>,
}

/// Samples grouped by family, whatever order they are added in.
#[derive(Debug, Default)]
pub struct Exposition {
    families: Vec<Family>,
}

impl Exposition {
    /// One sample of family `name`; the first sample of a family fixes its help and type.
    pub fn add(&mut self, name: &str, kind: Kind, help: &str, labels: &[(&str, &str)], v: f64) {
        self.sample(name, kind, help, "", labels, v);
    }

    /// One histogram of family `name`: `counts[i]` observations fell at or below `bounds[i]`
    /// (and above the bound before), the last one above every bound; written cumulatively as
    /// `_bucket{le}` samples ending with `le="+Inf"`, then `_sum` and `_count`.
    pub fn histogram(
        &mut self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        bounds: &[f64],
        counts: &[u64],
        sum: f64,
    ) {
        let mut total = 0u64;
        for (i, n) in counts.iter().enumerate() {
            total += n;
            let le = bounds.get(i).map_or("+Inf".to_string(), |b| format!("{b}"));
            let mut l = labels.to_vec();
            l.push(("le", &le));
            self.sample(name, Kind::Histogram, help, "_bucket", &l, total as f64);
        }
        self.sample(name, Kind::Histogram, help, "_sum", labels, sum);
        self.sample(name, Kind::Histogram, help, "_count", labels, total as f64);
    }

    fn sample(
        &mut self,
        name: &str,
        kind: Kind,
        help: &str,
        suffix: &'static str,
        labels: &[(&str, &str)],
        v: f64,
    ) {
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        match self.families.iter_mut().find(|f| f.name == name) {
            Some(f) => f.samples.push((suffix, labels, v)),
            None => self.families.push(Family {
                name: name.into(),
                help: help.into(),
                kind,
                samples: vec![(suffix, labels, v)],
            }),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.families.is_empty()
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        for f in &self.families {
            let _ = writeln!(s, "# HELP {} {}", f.name, escape_help(&f.help));
            let _ = writeln!(s, "# TYPE {} {}", f.name, f.kind.word());
            for (suffix, labels, v) in &f.samples {
                s.push_str(&f.name);
                s.push_str(suffix);
                if !labels.is_empty() {
                    let l: Vec<String> = labels
                        .iter()
                        .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                        .collect();
                    let _ = write!(s, "{{{}}}", l.join(","));
                }
                let _ = writeln!(s, " {}", value(*v));
            }
        }
        s
    }
}

/// A label value: backslash, double quote and line feed escaped.
pub fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// HELP text: backslash and line feed escaped (a quote is literal there).
pub fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Whole numbers without a fraction or exponent (byte counts stay exact up to 2^53).
fn value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 9.0e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
        assert_eq!(escape_help("a\\b\n\"q\""), "a\\\\b\\n\"q\"");
    }

    #[test]
    fn one_help_and_type_per_family_and_families_grouped() {
        let mut e = Exposition::default();
        e.add("a_bytes", Kind::Gauge, "A.", &[("id", "x")], 1.0);
        e.add("b_total", Kind::Counter, "B.", &[("id", "x")], 2.5);
        e.add("a_bytes", Kind::Gauge, "ignored", &[("id", "y\"z")], 3.0);
        e.add("c", Kind::Gauge, "C\nline", &[], f64::NAN);
        assert_eq!(
            e.render(),
            "# HELP a_bytes A.\n# TYPE a_bytes gauge\na_bytes{id=\"x\"} 1\n\
             a_bytes{id=\"y\\\"z\"} 3\n\
             # HELP b_total B.\n# TYPE b_total counter\nb_total{id=\"x\"} 2.5\n\
             # HELP c C\\nline\n# TYPE c gauge\nc NaN\n"
        );
    }

    #[test]
    fn a_histogram_is_cumulative_and_ends_with_inf_sum_and_count() {
        let mut e = Exposition::default();
        e.histogram(
            "d_seconds",
            "D.",
            &[("op", "x")],
            &[0.5, 1.0],
            &[2, 0, 1],
            3.25,
        );
        assert_eq!(
            e.render(),
            "# HELP d_seconds D.\n# TYPE d_seconds histogram\n\
             d_seconds_bucket{op=\"x\",le=\"0.5\"} 2\n\
             d_seconds_bucket{op=\"x\",le=\"1\"} 2\n\
             d_seconds_bucket{op=\"x\",le=\"+Inf\"} 3\n\
             d_seconds_sum{op=\"x\"} 3.25\n\
             d_seconds_count{op=\"x\"} 3\n"
        );
    }

    #[test]
    fn values() {
        assert_eq!(value(0.0), "0");
        assert_eq!(value(1073741824.0), "1073741824");
        assert_eq!(value(0.25), "0.25");
        assert_eq!(value(f64::INFINITY), "+Inf");
        assert_eq!(value(f64::NEG_INFINITY), "-Inf");
    }
}
