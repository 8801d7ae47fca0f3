//! Finding the line and column of a document path in a TOML file, for problems found
//! after parsing (unknown names, missing variables). The TOML crate keeps the span of
//! every value; the YAML and JSON crates do not, so such problems in those files carry
//! the path alone.

use super::path;
use crate::error::{ConfigProblem, Location};

/// `problems`, each with the line and column of its path in TOML `text` when it has none.
pub(crate) fn locate_all(text: &str, mut problems: Vec<ConfigProblem>) -> Vec<ConfigProblem> {
    for problem in &mut problems {
        if problem.location.is_none() && problem.path != path::TOP_LEVEL {
            problem.location = locate(text, &problem.path);
        }
    }
    problems
}

/// The line and column of the value at `problem_path` in TOML `text`, or of the nearest
/// enclosing value when the path goes on past what the document holds; `None` when not
/// even the first step is there.
pub(crate) fn locate(text: &str, problem_path: &str) -> Option<Location> {
    let segments = parse(problem_path)?;
    let root = toml::de::DeTable::parse(text).ok()?;
    let root = toml::de::DeValue::Table(root.into_inner());
    let mut value = &root;
    let mut span = None;
    for segment in &segments {
        let next = match segment {
            Segment::Key(key) => value.get(key.as_str()),
            Segment::Index(i) => value.get(*i),
        };
        let Some(next) = next else { break };
        span = Some(next.span());
        value = next.get_ref();
    }
    // Nothing found but the document itself: its first line would only mislead.
    span.map(|span| line_column(text, span.start))
}

/// One step into a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Segment {
    Key(String),
    Index(usize),
}

/// Reads a path back into its steps; `None` when it is not one this module wrote.
pub(crate) fn parse(path: &str) -> Option<Vec<Segment>> {
    if path == path::TOP_LEVEL {
        return Some(Vec::new());
    }
    let mut segments = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("[\"") {
            let mut key = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next()? {
                    (_, '\\') => key.push(chars.next()?.1),
                    (i, '"') => break i,
                    (_, c) => key.push(c),
                }
            };
            rest = after[end + 1..].strip_prefix(']')?;
            segments.push(Segment::Key(key));
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            segments.push(Segment::Index(after[..end].parse().ok()?));
            rest = &after[end + 1..];
        } else {
            let after = rest.strip_prefix('.').unwrap_or(rest);
            let end = after.find(['.', '[']).unwrap_or(after.len());
            if end == 0 {
                return None;
            }
            segments.push(Segment::Key(after[..end].to_owned()));
            rest = &after[end..];
        }
    }
    Some(segments)
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
pub(crate) fn line_column(text: &str, offset: usize) -> Location {
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Location {
        line: before.matches('\n').count() + 1,
        column: before[line_start..].chars().count() + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_lines_and_columns() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_column(text, 0), Location { line: 1, column: 1 });
        assert_eq!(line_column(text, 6), Location { line: 2, column: 1 });
        assert_eq!(line_column(text, 10), Location { line: 2, column: 4 });
    }

    #[test]
    fn toml_paths_find_their_value_or_the_nearest_parent() {
        let text = r#"
[[policies]]
name = "a"

[[policies]]
name = "b"
route = ["m", "fsat"]
"#;
        let at = |p: &str| locate(text, p).map(|l| (l.line, l.column));
        assert_eq!(at("policies[1].route[1]"), Some((7, 15)));
        assert_eq!(at("policies[1].route[5]"), Some((7, 9)));
        assert_eq!(at("policies[0].name"), Some((3, 8)));
        assert_eq!(at("nothing[3]"), None);
    }

    #[test]
    fn written_paths_read_back() {
        let path = r#"accounts[1].headers["x-\"q\""].value"#;
        assert_eq!(
            parse(path),
            Some(vec![
                Segment::Key("accounts".into()),
                Segment::Index(1),
                Segment::Key("headers".into()),
                Segment::Key("x-\"q\"".into()),
                Segment::Key("value".into()),
            ])
        );
        assert_eq!(parse(path::TOP_LEVEL), Some(vec![]));
        assert_eq!(parse("policies[x]"), None);
        assert_eq!(parse(r#"policies["chat"#), None);
    }
}
