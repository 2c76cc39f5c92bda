//! What the CSV reader decides on its own when the user does not say: the field delimiter, whether
//! the first row is a header, and whether a target column is a classification or a regression.
//! Each decision comes with a sentence saying what was decided and why, so that a wrong guess is
//! visible (and overridable) instead of silently changing the data. Also the raw-text check that
//! every quoted field is closed: the `csv` crate reads an unterminated quote as one field running
//! to the end of the file, which would silently swallow every row after it.

use super::csv::{MAX_AUTO_CLASSES, MISSING_MARKERS};
use crate::data::Task;

/// Delimiters tried by [`sniff_delimiter`], most common first (ties go to the earlier one).
pub const CANDIDATE_DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// How many lines [`sniff_delimiter`] looks at.
const SNIFF_LINES: usize = 50;

/// A printable name of a delimiter byte for messages (`','`, `'\t'`).
pub fn delimiter_name(d: u8) -> String {
    match d {
        b'\t' => "'\\t' (tab)".to_string(),
        d => format!("'{}'", char::from(d)),
    }
}

/// Counts `delimiter` outside double quotes on each of the first [`SNIFF_LINES`] non-empty lines.
fn counts_per_line(text: &[u8], delimiter: u8) -> Vec<usize> {
    let mut counts = Vec::new();
    let mut in_quotes = false;
    let mut count = 0usize;
    let mut non_empty = false;
    for &b in text {
        match b {
            b'"' => {
                in_quotes = !in_quotes;
                non_empty = true;
            }
            b'\n' if !in_quotes => {
                if non_empty {
                    counts.push(count);
                    if counts.len() == SNIFF_LINES {
                        return counts;
                    }
                }
                count = 0;
                non_empty = false;
            }
            b'\r' => {}
            b if b == delimiter && !in_quotes => {
                count += 1;
                non_empty = true;
            }
            _ => non_empty = true,
        }
    }
    if non_empty {
        counts.push(count);
    }
    counts
}

/// Picks the delimiter: among [`CANDIDATE_DELIMITERS`], the one that appears the same, non-zero
/// number of times on every sampled line (the most times wins; ties go to the earlier
/// candidate). Returns the delimiter and the reason; `None` when no candidate is consistent
/// (a one-column file, or a ragged one: the caller falls back to `,` and reports ragged rows).
pub fn sniff_delimiter(text: &[u8]) -> Option<(u8, String)> {
    let mut best: Option<(u8, usize, usize)> = None;
    for &d in &CANDIDATE_DELIMITERS {
        let counts = counts_per_line(text, d);
        let Some(&first) = counts.first() else {
            continue;
        };
        if first == 0 || counts.iter().any(|&c| c != first) {
            continue;
        }
        if best.is_none_or(|(_, n, _)| first > n) {
            best = Some((d, first, counts.len()));
        }
    }
    best.map(|(d, n, lines)| {
        (
            d,
            format!(
                "delimiter {} (auto: {} columns on each of the first {lines} lines; use \
                 --delimiter to override)",
                delimiter_name(d),
                n + 1
            ),
        )
    })
}

/// A quoted field that is never closed: 1-based line where its quote opened and 1-based field.
#[derive(Debug, PartialEq, Eq)]
pub struct OpenQuote {
    pub line: usize,
    pub field: usize,
}

/// Scans the raw text as CSV-with-quotes (RFC 4180: a quote at the start of a field opens a
/// quoted field, `""` inside it is a literal quote, a lone `"` closes it) and reports a quoted
/// field still open at the end of the file.
pub fn unterminated_quote(text: &[u8], delimiter: u8) -> Option<OpenQuote> {
    let mut line = 1usize;
    let mut field = 1usize;
    let mut at_field_start = true;
    let mut open: Option<OpenQuote> = None;
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        if open.is_some() {
            if b == b'"' {
                if text.get(i + 1) == Some(&b'"') {
                    i += 1;
                } else {
                    open = None;
                    at_field_start = false;
                }
            } else if b == b'\n' {
                line += 1;
            }
        } else if b == b'"' && at_field_start {
            open = Some(OpenQuote { line, field });
        } else if b == delimiter {
            field += 1;
            at_field_start = true;
        } else if b == b'\n' {
            line += 1;
            field = 1;
            at_field_start = true;
        } else {
            // As in the csv crate, a quote after any other character (blanks included) is a
            // literal character of an unquoted field.
            at_field_start = false;
        }
        i += 1;
    }
    open
}

/// Whether `field` parses as a finite number.
pub fn is_number(field: &str) -> bool {
    field.trim().parse::<f32>().is_ok_and(f32::is_finite)
}

/// Whether `field` is one of the [`MISSING_MARKERS`].
pub fn is_missing(field: &str) -> bool {
    MISSING_MARKERS
        .iter()
        .any(|m| field.trim().eq_ignore_ascii_case(m))
}

/// Decides whether the first row is a header; returns the decision and the reason.
///
/// A header when (1) some column is non-numeric in the first row and numeric in the second
/// (`sepal_length` over `5.1`), or (2) the first row's fields are consecutive integers counting
/// up from 0 or 1 (`0,1,2,3` as written by tools that name columns by index) and the second row
/// is not. A single row is a header when none of its fields is a number.
pub fn detect_header(first: &[&str], second: Option<&[&str]>) -> (bool, String) {
    let Some(second) = second else {
        let header = !first.iter().any(|f| is_number(f));
        return (
            header,
            if header {
                "header row: yes (auto: the only row has no numbers)".to_string()
            } else {
                "header row: no (auto: the only row holds numbers)".to_string()
            },
        );
    };
    if let Some(c) = first
        .iter()
        .zip(second)
        .position(|(a, b)| !is_number(a) && is_number(b))
    {
        return (
            true,
            format!(
                "header row: yes (auto: column {} is {:?} in line 1 but a number below; use \
                 --header no to read it as data)",
                c + 1,
                first[c]
            ),
        );
    }
    if counts_up(first) && !counts_up(second) {
        return (
            true,
            format!(
                "header row: yes (auto: line 1 numbers the columns {}..{}; use --header no to \
                 read it as data)",
                first[0].trim(),
                first[first.len() - 1].trim()
            ),
        );
    }
    (
        false,
        "header row: no (auto: line 1 looks like data; use --header yes if it names the columns)"
            .to_string(),
    )
}

/// At least two fields, consecutive integers starting at 0 or 1.
fn counts_up(row: &[&str]) -> bool {
    if row.len() < 2 {
        return false;
    }
    let Ok(start) = row[0].trim().parse::<i64>() else {
        return false;
    };
    (start == 0 || start == 1)
        && row
            .iter()
            .enumerate()
            .all(|(i, f)| f.trim().parse::<i64>().ok() == Some(start + i as i64))
}

/// The outcome of automatic task detection for one target column.
#[derive(Debug, PartialEq)]
pub enum AutoTask {
    /// The task and the reason.
    Decided(Task, String),
    /// The column is mostly numbers but holds a non-numeric value: ambiguous, so an error.
    /// `row` is the index (into the data rows) of the first non-numeric value.
    Mixed {
        row: usize,
        numbers: usize,
        texts: usize,
    },
}

/// Decides the task from the values of one target column: text labels (no value is a number)
/// or at most [`MAX_AUTO_CLASSES`] distinct integers are a classification, other numbers a
/// regression. A column that is mostly numbers but holds some text is ambiguous (a typo in a
/// numeric target would otherwise turn a regression into a many-class classification).
pub fn auto_task<'a>(name: &str, values: impl Iterator<Item = &'a str>) -> AutoTask {
    let mut distinct: Vec<f64> = Vec::new();
    let mut all_integers = true;
    let (mut numbers, mut texts) = (0usize, 0usize);
    let mut first_text = None;
    for (i, field) in values.enumerate() {
        if is_missing(field) {
            continue;
        }
        match field.trim().parse::<f64>() {
            Ok(v) if v.is_finite() => {
                numbers += 1;
                if v.fract() != 0.0 {
                    all_integers = false;
                } else if distinct.len() <= MAX_AUTO_CLASSES && !distinct.contains(&v) {
                    distinct.push(v);
                }
            }
            _ => {
                texts += 1;
                first_text.get_or_insert(i);
            }
        }
    }
    if texts > 0 {
        if numbers >= texts {
            return AutoTask::Mixed {
                row: first_text.unwrap_or(0),
                numbers,
                texts,
            };
        }
        return AutoTask::Decided(
            Task::Classification,
            format!(
                "task: classification (auto: target '{name}' holds text labels; use --task to \
                 override)"
            ),
        );
    }
    if all_integers && distinct.len() <= MAX_AUTO_CLASSES {
        AutoTask::Decided(
            Task::Classification,
            format!(
                "task: classification (auto: target '{name}' holds {} distinct integers, at most \
                 {MAX_AUTO_CLASSES}; use --task regression to override)",
                distinct.len()
            ),
        )
    } else {
        let why = if all_integers {
            format!("more than {MAX_AUTO_CLASSES} distinct integers")
        } else {
            "non-integer numbers".to_string()
        };
        AutoTask::Decided(
            Task::Regression,
            format!(
                "task: regression (auto: target '{name}' holds {why}; use --task classification \
                 to override)"
            ),
        )
    }
}

/// A hint for a file read with the wrong delimiter: its first row is one field holding another
/// candidate delimiter.
pub fn delimiter_hint(first_row: &[&str], used: u8) -> String {
    let [only] = first_row else {
        return String::new();
    };
    CANDIDATE_DELIMITERS
        .iter()
        .find(|&&d| d != used && only.as_bytes().contains(&d))
        .map(|&d| {
            format!(
                " (the file was split at {}, but its first line contains {}: pass --delimiter {})",
                delimiter_name(used),
                delimiter_name(d),
                if d == b'\t' {
                    "tab".to_string()
                } else {
                    format!("'{}'", char::from(d))
                }
            )
        })
        .unwrap_or_default()
}

/// The header names that occur more than once, each with its 1-based columns
/// (`'a' (columns 1, 3)`), or `None` when all are distinct.
pub fn duplicate_names(names: &[String]) -> Option<String> {
    let mut dups: Vec<&String> = Vec::new();
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) && !dups.contains(&n) {
            dups.push(n);
        }
    }
    if dups.is_empty() {
        return None;
    }
    let described: Vec<String> = dups
        .iter()
        .map(|d| {
            let cols: Vec<String> = names
                .iter()
                .enumerate()
                .filter(|(_, n)| n == d)
                .map(|(c, _)| (c + 1).to_string())
                .collect();
            format!("'{d}' (columns {})", cols.join(", "))
        })
        .collect();
    Some(described.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_semicolons_tabs_and_ignores_quoted_delimiters() {
        assert_eq!(sniff_delimiter(b"a;b;c\n1;2;3\n").map(|d| d.0), Some(b';'));
        assert_eq!(sniff_delimiter(b"a\tb\n1\t2\n").map(|d| d.0), Some(b'\t'));
        // Decimal commas inside quotes do not count.
        assert_eq!(
            sniff_delimiter(b"a;b\n\"1,5\";2\n\"2,5\";3\n").map(|d| d.0),
            Some(b';')
        );
        assert_eq!(sniff_delimiter(b"a\n1\n"), None);
    }

    #[test]
    fn finds_the_line_of_an_unclosed_quote() {
        assert_eq!(unterminated_quote(b"a,b\n1,\"x\"\"y\"\n", b','), None);
        assert_eq!(
            unterminated_quote(b"a,b\n1,2\n3,\"oops\n4,5\n", b','),
            Some(OpenQuote { line: 3, field: 2 })
        );
    }

    #[test]
    fn numbered_columns_are_a_header() {
        assert!(detect_header(&["0", "1", "2"], Some(&["5.1", "3.5", "1"])).0);
        assert!(!detect_header(&["0", "1", "2"], Some(&["0", "1", "2"])).0);
        assert!(!detect_header(&["5", "1", "2"], Some(&["5.1", "3.5", "1"])).0);
    }
}
