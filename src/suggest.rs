//! "Did you mean": the known name closest to a misspelled one, shared by the builder's
//! checks and the config file reader.

/// The known name closest to `name`, when it is close enough to be a typo of it (at most
/// a third of the longer name's characters edited, and at least one allowed).
pub(crate) fn closest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    known
        .map(|k| (edit_distance(name, k), k))
        .filter(|(d, k)| *d <= (k.len().max(name.len()) / 3).max(1))
        .min()
        .map(|(_, k)| k)
}

/// "unknown account `x`", with the closest known name when one is close.
pub(crate) fn unknown<'a>(what: &str, name: &str, known: impl Iterator<Item = &'a str>) -> String {
    match closest(name, known) {
        Some(k) => format!("unknown {what} `{name}`; did you mean `{k}`?"),
        None => format!("unknown {what} `{name}`"),
    }
}

/// Adds "did you mean" to serde's "unknown field `x`, expected one of `a`, `b`" (and the
/// same for variants), so a typo names its fix; drops the value a type error quotes.
pub(crate) fn teach(message: &str) -> String {
    let message = unquote_value(message);
    let message = message.as_str();
    let suggestion = ["unknown field `", "unknown variant `"]
        .iter()
        .find_map(|lead| message.strip_prefix(lead))
        .and_then(|rest| {
            let (typo, expected) = rest.split_once('`')?;
            let known = expected.split('`').skip(1).step_by(2);
            closest(typo, known)
        });
    match suggestion {
        Some(name) => format!("{message}; did you mean `{name}`?"),
        None => message.to_owned(),
    }
}

/// serde's "invalid type: string \"sk-…\", expected u32" quotes the value it found, and a
/// value typed into the wrong field may be a secret (an API key pasted as `rpm`): the
/// message keeps what kind of value it was and what was expected, never the value.
fn unquote_value(message: &str) -> String {
    for lead in ["invalid type: ", "invalid value: "] {
        let Some(found) = message.strip_prefix(lead) else {
            continue;
        };
        let kind = ["string ", "character "]
            .into_iter()
            .find(|kind| found.starts_with(kind));
        // The quoted value may itself hold ", expected ": the last one is serde's.
        if let (Some(kind), Some(end)) = (kind, found.rfind(", expected ")) {
            return format!("{lead}a {}{}", kind.trim_end(), &found[end..]);
        }
    }
    message.to_owned()
}

/// Edits (insert, delete, substitute, swap two neighbours) between two names.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        d[i * width] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("gpt5-mini", "gpt-5-mini"), 1);
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("fsat", "fast"), 1);
    }

    #[test]
    fn only_close_names_are_suggested() {
        let known = ["primary-llm", "backup-llm"];
        assert_eq!(
            closest("primray-llm", known.into_iter()),
            Some("primary-llm")
        );
        assert_eq!(closest("summaries", known.into_iter()), None);
        assert_eq!(
            unknown("logical model", "bakup-llm", known.into_iter()),
            "unknown logical model `bakup-llm`; did you mean `backup-llm`?"
        );
    }
}
