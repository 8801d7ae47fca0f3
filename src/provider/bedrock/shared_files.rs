//! The AWS shared credentials and config files: the documented INI format
//! (<https://docs.aws.amazon.com/sdkref/latest/guide/file-format.html>), read for the
//! few keys the adapter uses.
//!
//! Sections are `[name]` in the credentials file and `[profile name]` (or `[default]`)
//! in the config file; `key = value` lines, with `#` and `;` comments on lines of their
//! own. Indented lines continue a nested block (`s3 =` with sub-keys), which is skipped.

/// Keys that say a profile gets its credentials some other way than keys in the file.
const OTHER_SOURCES: [&str; 6] = [
    "sso_session",
    "sso_start_url",
    "role_arn",
    "credential_process",
    "web_identity_token_file",
    "credential_source",
];

/// What one profile sets, from both files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct ProfileSettings {
    pub(super) access_key_id: Option<String>,
    pub(super) secret_access_key: Option<String>,
    pub(super) session_token: Option<String>,
    pub(super) region: Option<String>,
    /// The first key that names another way of getting credentials.
    pub(super) other_source: Option<String>,
}

/// Profile `name` from the credentials and config files' text (either may be missing);
/// the credentials file wins where both set a key. `None` when neither has the profile.
pub(super) fn profile(
    name: &str,
    credentials: Option<&str>,
    config: Option<&str>,
) -> Option<ProfileSettings> {
    let from_credentials = credentials.and_then(|text| section(text, |s| s == name));
    let from_config = config.and_then(|text| {
        section(text, |s| {
            s.strip_prefix("profile")
                .filter(|rest| rest.starts_with(char::is_whitespace))
                .map(str::trim)
                .map_or(s == "default" && name == "default", |n| n == name)
        })
    });
    if from_credentials.is_none() && from_config.is_none() {
        return None;
    }
    let mut settings = ProfileSettings::default();
    // Config first, credentials over it.
    for pairs in [from_config, from_credentials].into_iter().flatten() {
        for (key, value) in pairs {
            let slot = match key.as_str() {
                "aws_access_key_id" => &mut settings.access_key_id,
                "aws_secret_access_key" => &mut settings.secret_access_key,
                "aws_session_token" => &mut settings.session_token,
                "region" => &mut settings.region,
                other if OTHER_SOURCES.contains(&other) => {
                    settings.other_source.get_or_insert(key);
                    continue;
                }
                _ => continue,
            };
            *slot = Some(value);
        }
    }
    Some(settings)
}

/// The `key = value` pairs of the first section whose name `wanted` accepts (keys
/// lower-cased, values trimmed), or `None` when there is no such section.
fn section(text: &str, wanted: impl Fn(&str) -> bool) -> Option<Vec<(String, String)>> {
    let mut pairs = None::<Vec<(String, String)>>;
    let mut inside = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if let Some(name) = trimmed
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
        {
            if pairs.is_some() {
                // The profile's section has ended; only the first one counts.
                break;
            }
            inside = wanted(name.trim());
            if inside {
                pairs = Some(Vec::new());
            }
            continue;
        }
        // Indented lines belong to a nested block (`s3 =` and its sub-keys).
        if !inside || line.starts_with(char::is_whitespace) {
            continue;
        }
        if let (Some(pairs), Some((key, value))) = (pairs.as_mut(), trimmed.split_once('=')) {
            pairs.push((key.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREDENTIALS: &str = "\
# comment
[default]
aws_access_key_id = AKIDDEFAULT
aws_secret_access_key = secret/with=equals

[work]
aws_access_key_id=AKIDWORK
aws_secret_access_key=WORKSECRET
aws_session_token = TOKEN
";

    const CONFIG: &str = "\
[default]
region = us-east-1

[profile work]
region = eu-west-3
s3 =
  max_concurrent_requests = 20
; the credentials file wins
aws_access_key_id = FROMCONFIG

[profile roles]
role_arn = arn:aws:iam::123456789012:role/r
source_profile = default
";

    #[test]
    fn a_profile_merges_both_files_with_the_credentials_file_winning() {
        let work = profile("work", Some(CREDENTIALS), Some(CONFIG)).unwrap();
        assert_eq!(work.access_key_id.as_deref(), Some("AKIDWORK"));
        assert_eq!(work.secret_access_key.as_deref(), Some("WORKSECRET"));
        assert_eq!(work.session_token.as_deref(), Some("TOKEN"));
        assert_eq!(work.region.as_deref(), Some("eu-west-3"));
        assert_eq!(work.other_source, None);
    }

    #[test]
    fn values_keep_their_equals_signs_and_the_default_profile_needs_no_prefix() {
        let default = profile("default", Some(CREDENTIALS), Some(CONFIG)).unwrap();
        assert_eq!(
            default.secret_access_key.as_deref(),
            Some("secret/with=equals")
        );
        assert_eq!(default.region.as_deref(), Some("us-east-1"));
    }

    #[test]
    fn config_sections_need_the_profile_prefix_except_default() {
        // `[work]` in the config file is not the profile `work`.
        let text = "[work]\nregion = us-west-1\n";
        assert_eq!(profile("work", None, Some(text)), None);
        assert!(profile("work", None, Some("[profile   work]\nregion = x\n")).is_some());
        assert_eq!(
            profile("profilework", None, Some("[profilework]\nregion = x\n")),
            None
        );
    }

    #[test]
    fn profiles_of_other_credential_sources_are_named_and_missing_ones_are_none() {
        let roles = profile("roles", Some(CREDENTIALS), Some(CONFIG)).unwrap();
        assert_eq!(roles.other_source.as_deref(), Some("role_arn"));
        assert_eq!(roles.access_key_id, None);
        assert_eq!(profile("absent", Some(CREDENTIALS), Some(CONFIG)), None);
        assert_eq!(profile("default", None, None), None);
    }

    #[test]
    fn nested_blocks_and_comments_are_skipped_and_keys_are_case_insensitive() {
        let text = "[default]\nAWS_ACCESS_KEY_ID = K\n  aws_secret_access_key = nested\n#aws_secret_access_key = commented\n";
        let settings = profile("default", Some(text), None).unwrap();
        assert_eq!(settings.access_key_id.as_deref(), Some("K"));
        assert_eq!(settings.secret_access_key, None);
    }
}
