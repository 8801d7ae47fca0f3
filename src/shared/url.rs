//! Redis URLs as they may be shown: the password (and user name) of
//! `redis://user:password@host` and of a `?pass=` query never reach `Debug`, `Display`,
//! errors or traces.

use std::fmt;

/// What stands where credentials were.
const REDACTED: &str = "<redacted>";

/// Query parameters that carry credentials (unix-socket URLs: `redis+unix:///s?pass=…`).
const SECRET_PARAMETERS: [&str; 3] = ["pass", "password", "user"];

/// Shows a Redis URL with its credentials replaced by `<redacted>`.
pub(crate) struct RedactedUrl<'a>(pub(crate) &'a str);

impl fmt::Display for RedactedUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = self.0;
        let (scheme, rest) = match url.find("://") {
            Some(at) => url.split_at(at + 3),
            None => ("", url),
        };
        f.write_str(scheme)?;
        // Userinfo ends at the last `@` before the path, query or fragment.
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let rest = match rest[..authority_end].rfind('@') {
            Some(at) => {
                write!(f, "{REDACTED}@")?;
                &rest[at + 1..]
            }
            None => rest,
        };
        let Some((before_query, query)) = rest.split_once('?') else {
            return f.write_str(rest);
        };
        write!(f, "{before_query}?")?;
        let (query, fragment) = match query.split_once('#') {
            Some((query, fragment)) => (query, Some(fragment)),
            None => (query, None),
        };
        for (i, pair) in query.split('&').enumerate() {
            if i > 0 {
                f.write_str("&")?;
            }
            match pair.split_once('=') {
                Some((name, _))
                    if SECRET_PARAMETERS.contains(&name.to_ascii_lowercase().as_str()) =>
                {
                    write!(f, "{name}={REDACTED}")?;
                }
                _ => f.write_str(pair)?,
            }
        }
        match fragment {
            Some(fragment) => write!(f, "#{fragment}"),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for RedactedUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::RedactedUrl;

    fn shown(url: &str) -> String {
        RedactedUrl(url).to_string()
    }

    #[test]
    fn credentials_are_replaced_and_everything_else_is_kept() {
        assert_eq!(
            shown("redis://:pw@host:6379/2"),
            "redis://<redacted>@host:6379/2"
        );
        assert_eq!(
            shown("rediss://alice:s3cr@t@cache.internal"),
            "rediss://<redacted>@cache.internal"
        );
        assert_eq!(shown("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(
            shown("redis+unix:///run/redis.sock?db=1&pass=pw&user=bob"),
            "redis+unix:///run/redis.sock?db=1&pass=<redacted>&user=<redacted>"
        );
        assert_eq!(shown("host/path@x"), "host/path@x");
        assert_eq!(
            format!("{:?}", RedactedUrl("redis://:pw@h")),
            "\"redis://<redacted>@h\""
        );
    }
}
