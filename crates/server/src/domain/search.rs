//! Search: what a query means (folded terms, the last one a prefix), how
//! hits rank, and where in a text the terms matched. The stores only find
//! candidate rows with their own indexes (SQLite FTS5, PostgreSQL
//! `tsvector`); ranking and offsets are decided here, once, so both stores
//! answer the same.
//!
//! Folding: lower case, accents and other combining marks removed
//! (Unicode NFD), so `facturacion` finds `Facturación`. Words are runs of
//! letters and digits.

use super::Refusal;
use soporte_protocol::Timestamp;
use unicode_normalization::UnicodeNormalization;

/// Longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// Terms of a query used at most (the rest are ignored).
pub const MAX_TERMS: usize = 8;
/// Candidate rows a store returns at most per kind (newest first); ranking
/// is among them.
pub const CANDIDATES: usize = 300;
/// Results per page.
pub const PAGE: usize = 20;
/// Words a prefix is searched as, at most (see `store::search`): past it,
/// the store's own prefix matching.
pub const MAX_EXPANSION: usize = 128;

/// A parsed query: folded terms; the last one also matches as a prefix
/// (what is being typed), unless the query ended in a space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub terms: Vec<String>,
    pub last_is_prefix: bool,
    /// `#123` or `123` alone: that ticket id too.
    pub ticket_id: Option<i64>,
}

impl Query {
    /// The same query with its last word whole: what is searched first.
    /// A prefix costs the full-text indexes a merge of every word it starts
    /// (seconds for a common one on millions of messages), so it is only
    /// searched when the whole words leave room (see [`Query::widen`]).
    pub fn whole_words(&self) -> Query {
        Query {
            last_is_prefix: false,
            ..self.clone()
        }
    }

    /// Whether the prefix search must follow the whole-word one, which found
    /// `messages` message candidates: only when the last word is a prefix
    /// and the whole words did not fill the candidates by themselves (a
    /// word that does is taken as meant; what it starts ranks lower anyway).
    pub fn widen(&self, messages: usize) -> bool {
        self.last_is_prefix && messages < CANDIDATES
    }
}

/// Parses `raw`, or says why it cannot be searched.
pub fn parse(raw: &str) -> Result<Query, Refusal> {
    if raw.chars().count() > MAX_QUERY_CHARS {
        return Err(Refusal::invalid(format!(
            "La búsqueda tiene como máximo {MAX_QUERY_CHARS} caracteres."
        )));
    }
    let trimmed = raw.trim();
    let ticket_id = trimmed
        .strip_prefix('#')
        .unwrap_or(trimmed)
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0);
    let terms: Vec<String> = words(&fold(raw))
        .into_iter()
        .map(|(_, _, word)| word)
        .take(MAX_TERMS)
        .collect();
    if terms.is_empty() {
        return Err(Refusal::invalid(
            "Escribe al menos una palabra o un número para buscar.",
        ));
    }
    let last_is_prefix = !raw.ends_with(char::is_whitespace);
    Ok(Query {
        terms,
        last_is_prefix,
        ticket_id,
    })
}

/// `text` lower-cased without accents.
pub fn fold(text: &str) -> String {
    text.nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Calls `each` with every folded word of `text`, as a search index holds
/// them. The SQLite writer runs it on every message it stores, so an ASCII
/// word (most of them) is lower-cased in a reused buffer: no allocation
/// and no Unicode decomposition.
pub fn each_term(text: &str, mut each: impl FnMut(&str)) {
    let mut word = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_alphanumeric() {
            word.push(c);
        } else if !word.is_empty() {
            if word.is_ascii() {
                word.make_ascii_lowercase();
                each(&word);
            } else {
                each(&fold(&word));
            }
            word.clear();
        }
    }
}

/// The words of `text`: (start, end) in UTF-16 code units of the original
/// and the folded word.
fn words(text: &str) -> Vec<(usize, usize, String)> {
    let mut found = Vec::new();
    let mut current = String::new();
    let mut start = 0;
    let mut at = 0;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if current.is_empty() {
                start = at;
            }
            current.push(c);
        } else if !current.is_empty() {
            found.push((start, at, fold(&std::mem::take(&mut current))));
        }
        at += c.len_utf16();
    }
    if !current.is_empty() {
        found.push((start, at, fold(&current)));
    }
    found
}

impl Query {
    fn matches(&self, index: usize, word: &str) -> bool {
        let term = &self.terms[index];
        word == term
            || (self.last_is_prefix
                && index + 1 == self.terms.len()
                && word.starts_with(term.as_str()))
    }

    /// Where the terms match in `text`: `[start, end)` in UTF-16 code units
    /// (JavaScript string indices), in order.
    pub fn offsets(&self, text: &str) -> Vec<[usize; 2]> {
        words(text)
            .into_iter()
            .filter(|(_, _, word)| (0..self.terms.len()).any(|i| self.matches(i, word)))
            .map(|(start, end, _)| [start, end])
            .collect()
    }

    /// Whether every term is in `text` (what a store's index found is
    /// checked again here, so both stores agree on what matches).
    pub fn all_in(&self, text: &str) -> bool {
        let found = words(text);
        (0..self.terms.len()).all(|i| found.iter().any(|(_, _, word)| self.matches(i, word)))
    }

    /// How well `text` matches: every term found counts, a whole word more
    /// than a prefix, each further occurrence a little.
    fn score(&self, text: &str) -> f64 {
        let found = words(text);
        let mut score = 0.0;
        for i in 0..self.terms.len() {
            let exact = found.iter().filter(|(_, _, w)| *w == self.terms[i]).count();
            let any = found.iter().filter(|(_, _, w)| self.matches(i, w)).count();
            if any > 0 {
                score += if exact > 0 { 1.0 } else { 0.7 };
                score += 0.1 * (any.min(5) as f64 - 1.0);
            }
        }
        score
    }
}

/// Where a hit was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// The ticket's subject (or its id).
    Subject,
    /// The customer's name.
    Customer,
    /// A message's text.
    Message,
}

/// A candidate a store found: the ticket, the text that matched and where.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub ticket: i64,
    pub field: Field,
    /// The message, for [`Field::Message`].
    pub message: Option<(i64, i64)>,
    pub text: String,
    pub at: Timestamp,
}

/// Ranks candidates: those that match every term (checked here), best
/// first; a subject counts more than a message, newer breaks ties. One hit
/// per ticket and message.
pub fn rank(query: &Query, candidates: Vec<Candidate>) -> Vec<(Candidate, Vec<[usize; 2]>)> {
    let mut scored: Vec<(f64, Candidate)> = candidates
        .into_iter()
        .filter(|c| {
            (c.field == Field::Subject && query.ticket_id == Some(c.ticket))
                || query.all_in(&c.text)
        })
        .map(|c| {
            let weight = match c.field {
                Field::Subject => 1.5,
                Field::Customer => 1.2,
                Field::Message => 1.0,
            };
            let id_match = if query.ticket_id == Some(c.ticket) && c.field == Field::Subject {
                10.0
            } else {
                0.0
            };
            (query.score(&c.text) * weight + id_match, c)
        })
        .collect();
    scored.sort_by(|(a, x), (b, y)| {
        b.total_cmp(a)
            .then(y.at.cmp(&x.at))
            .then(y.ticket.cmp(&x.ticket))
            .then(y.message.cmp(&x.message))
    });
    let mut seen = std::collections::HashSet::new();
    scored
        .into_iter()
        .filter(|(_, c)| seen.insert((c.ticket, c.field, c.message)))
        .map(|(_, c)| {
            let offsets = query.offsets(&c.text);
            (c, offsets)
        })
        .collect()
}

/// Longest text a hit carries; longer ones are cut around the first match.
const SNIPPET_CHARS: usize = 240;

/// `text` as a hit shows it (whole, or a window around the first match)
/// and where the query matches in that.
pub fn snippet(query: &Query, text: &str) -> (String, Vec<[usize; 2]>) {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= SNIPPET_CHARS {
        return (text.to_string(), query.offsets(text));
    }
    // The first match, as a char index.
    let first = query.offsets(text).first().map_or(0, |[start, _]| {
        let mut units = 0;
        chars
            .iter()
            .position(|c| {
                units += c.len_utf16();
                units > *start
            })
            .unwrap_or(0)
    });
    let from = first.saturating_sub(60).min(chars.len() - SNIPPET_CHARS);
    let to = from + SNIPPET_CHARS;
    let mut cut: String = chars[from..to].iter().collect();
    if from > 0 {
        cut.insert(0, '…');
    }
    if to < chars.len() {
        cut.push('…');
    }
    let offsets = query.offsets(&cut);
    (cut, offsets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_is_searched_only_when_whole_words_leave_room() {
        let typing = parse("factur").unwrap();
        assert!(!typing.whole_words().last_is_prefix);
        assert!(typing.widen(0));
        assert!(typing.widen(CANDIDATES - 1));
        assert!(!typing.widen(CANDIDATES));
        let done = parse("factura ").unwrap();
        assert!(!done.widen(0));
    }

    fn candidate(ticket: i64, field: Field, text: &str, at: i64) -> Candidate {
        Candidate {
            ticket,
            field,
            message: (field == Field::Message).then_some((ticket * 100, 1)),
            text: text.into(),
            at: Timestamp::from_millis(at),
        }
    }

    #[test]
    fn queries_fold_accents_and_case_and_the_last_word_is_a_prefix() {
        let q = parse("Facturación  ENV").unwrap();
        assert_eq!(q.terms, vec!["facturacion", "env"]);
        assert!(q.last_is_prefix);
        assert!(q.all_in("¿Me envías la facturacion?"));
        assert!(!parse("facturación env ")
            .unwrap()
            .all_in("¿Me envías la facturación?"));
        assert_eq!(parse("#42").unwrap().ticket_id, Some(42));
        assert!(parse("  ¿? ").is_err());
        assert!(parse(&"a".repeat(201)).is_err());
    }

    #[test]
    fn offsets_are_javascript_indices_of_the_original_text() {
        let q = parse("cafe").unwrap();
        // "😀" is two UTF-16 units; "Café" keeps its accent in the text.
        assert_eq!(q.offsets("😀 Café y cafetería"), vec![[3, 7], [10, 19]]);
    }

    #[test]
    fn a_long_text_is_cut_around_its_first_match() {
        let q = parse("aguja").unwrap();
        let text = format!("{} aguja {}", "paja ".repeat(100), "heno ".repeat(100));
        let (cut, offsets) = snippet(&q, &text);
        assert_eq!(cut.chars().count(), 242);
        assert!(cut.starts_with('…') && cut.ends_with('…'));
        let [start, end] = offsets[0];
        let units: Vec<u16> = cut.encode_utf16().collect();
        assert_eq!(String::from_utf16(&units[start..end]).unwrap(), "aguja");
    }

    #[test]
    fn subjects_outrank_messages_and_newer_breaks_ties() {
        let q = parse("factura").unwrap();
        let ranked = rank(
            &q,
            vec![
                candidate(1, Field::Message, "la factura llegó", 10),
                candidate(2, Field::Subject, "Factura duplicada", 5),
                candidate(3, Field::Message, "otra factura", 20),
                candidate(4, Field::Message, "nada que ver", 30),
            ],
        );
        let order: Vec<i64> = ranked.iter().map(|(c, _)| c.ticket).collect();
        assert_eq!(order, vec![2, 3, 1]);
        assert_eq!(ranked[0].1, vec![[0, 7]]);
    }
}
