//! Counters by label values (route and status, refusal reason), rendered
//! as Prometheus text. Every label takes values from a bounded set (route
//! templates, status codes, known methods, error codes) so a client cannot
//! grow the series: what is not known is counted as `other`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

pub struct Labelled {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    counts: Mutex<BTreeMap<Vec<String>, u64>>,
}

impl Labelled {
    pub const fn new(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Labelled {
        Labelled {
            name,
            help,
            labels,
            counts: Mutex::new(BTreeMap::new()),
        }
    }

    /// Counts one for these label values, in the order of `labels`.
    pub fn add(&self, values: &[&str]) {
        debug_assert_eq!(values.len(), self.labels.len());
        let key: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *counts.entry(key).or_insert(0) += 1;
    }

    /// The count of these label values (tests).
    pub fn get(&self, values: &[&str]) -> u64 {
        let key: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.get(&key).copied().unwrap_or(0)
    }

    pub fn render(&self, out: &mut String) {
        let (name, help) = (self.name, self.help);
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        for (values, count) in counts.iter() {
            let labels: Vec<String> = self
                .labels
                .iter()
                .zip(values)
                .map(|(label, value)| format!("{label}=\"{}\"", escaped(value)))
                .collect();
            let _ = writeln!(out, "{name}{{{}}} {count}", labels.join(","));
        }
    }
}

/// A label value as the text format wants it: `\`, `"` and newlines escaped.
fn escaped(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// An HTTP method as a label: the ones the API serves, else `other`.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::HEAD => "HEAD",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_render_one_series_per_label_set() {
        let counter = Labelled::new("t_total", "Test", &["route", "status"]);
        counter.add(&["/a/{id}/", "200"]);
        counter.add(&["/a/{id}/", "200"]);
        counter.add(&["/b\"", "404"]);
        let mut out = String::new();
        counter.render(&mut out);
        assert_eq!(
            out,
            "# HELP t_total Test\n# TYPE t_total counter\n\
             t_total{route=\"/a/{id}/\",status=\"200\"} 2\n\
             t_total{route=\"/b\\\"\",status=\"404\"} 1\n"
        );
        assert_eq!(counter.get(&["/a/{id}/", "200"]), 2);
        assert_eq!(method_label(&"BREW".parse().unwrap()), "other");
    }
}
