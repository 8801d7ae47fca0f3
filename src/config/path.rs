//! Paths into a config document, such as `policies[2].route[0]` or
//! `accounts[0].headers["x-team"]`, as problems name them.

/// What a problem about the whole document is reported under.
pub(crate) const TOP_LEVEL: &str = "(top level)";

/// Appends a map key: `.name`, or `["x-team"]` when the key is not a plain name.
pub(crate) fn push_key(path: &mut String, key: &str) {
    let plain = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    } else {
        path.push_str("[\"");
        for c in key.chars() {
            if matches!(c, '"' | '\\') {
                path.push('\\');
            }
            path.push(c);
        }
        path.push_str("\"]");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_keys_use_dots_and_others_brackets() {
        let mut path = "accounts[0].headers".to_owned();
        push_key(&mut path, "x-team");
        assert_eq!(path, r#"accounts[0].headers["x-team"]"#);
        let mut path = String::new();
        push_key(&mut path, "policies");
        push_key(&mut path, "say \"hi\"");
        assert_eq!(path, r#"policies["say \"hi\""]"#);
    }
}
