//! AWS credentials and region: where the adapter finds them, and the standard
//! resolution order (explicit keys, the environment, the shared config and credentials
//! files).

use std::fmt;
use std::path::PathBuf;

use super::shared_files::{self, ProfileSettings};
use crate::SecretString;
use crate::provider::{ErrorKind, ProviderError};

/// An AWS access key: the key id, its secret and, for temporary credentials (STS, SSO,
/// an assumed role), the session token.
///
/// Neither `Debug` nor any error shows the secret or the token; `Debug` shows only the
/// first four characters of the key id (`AKIA…`, `ASIA…`), enough to tell long-term from
/// temporary keys.
///
/// ```
/// use routewise::provider::bedrock::AwsCredentials;
///
/// let keys = AwsCredentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
///     .session_token("FwoGZXIvYXdzEXAMPLE");
/// let shown = format!("{keys:?}");
/// assert!(!shown.contains("wJalr") && !shown.contains("FwoG") && !shown.contains("DEXAMPLE"));
/// ```
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(docsrs, doc(cfg(feature = "bedrock")))]
pub struct AwsCredentials {
    access_key_id: SecretString,
    secret_access_key: SecretString,
    session_token: Option<SecretString>,
}

impl AwsCredentials {
    /// Long-term keys (or the first two parts of temporary ones).
    pub fn new(
        access_key_id: impl Into<SecretString>,
        secret_access_key: impl Into<SecretString>,
    ) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: None,
        }
    }

    /// Adds the session token of temporary credentials (`x-amz-security-token`).
    #[must_use]
    pub fn session_token(mut self, token: impl Into<SecretString>) -> Self {
        self.session_token = Some(token.into());
        self
    }

    pub(super) fn access_key_id(&self) -> &str {
        self.access_key_id.expose()
    }

    pub(super) fn secret_access_key(&self) -> &str {
        self.secret_access_key.expose()
    }

    pub(super) fn token(&self) -> Option<&str> {
        self.session_token.as_ref().map(SecretString::expose)
    }

    /// Every secret part, to keep out of messages.
    pub(super) fn secrets(&self) -> impl Iterator<Item = &str> {
        [Some(&self.access_key_id), Some(&self.secret_access_key)]
            .into_iter()
            .chain([self.session_token.as_ref()])
            .flatten()
            .map(SecretString::expose)
    }
}

impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id: String = self.access_key_id().chars().take(4).collect();
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &format_args!("{id}…"))
            .field("secret_access_key", &"***")
            .field("session_token", &self.session_token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Where a [`Bedrock`](super::Bedrock) adapter finds its AWS credentials.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(docsrs, doc(cfg(feature = "bedrock")))]
#[non_exhaustive]
pub enum CredentialSource {
    /// The standard order of the AWS SDKs and CLI: the environment
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), else the
    /// profile named by `AWS_PROFILE` (or `default`) in the shared credentials and config
    /// files.
    #[default]
    Standard,
    /// The environment variables only.
    Environment,
    /// This profile of the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`, else
    /// `~/.aws/credentials`) and config file (`AWS_CONFIG_FILE`, else `~/.aws/config`),
    /// the credentials file winning where both set a key.
    Profile(String),
    /// These keys.
    Static(AwsCredentials),
}

/// Where resolution reads the environment: the process's, or a fixed map in tests.
pub(super) trait Environment {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub(super) struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }
}

/// The credentials and region in force for one adapter.
#[derive(Debug)]
pub(super) struct Resolved {
    pub(super) credentials: AwsCredentials,
    pub(super) region: String,
}

/// Resolves `source`, with `region` (the adapter's own, if set) winning over the
/// environment's (`AWS_REGION`, `AWS_DEFAULT_REGION`) and the profile's.
///
/// # Errors
///
/// [`ErrorKind::Auth`] when no credentials are found, a profile does not exist or holds
/// credentials of a kind routewise does not resolve (SSO, an assumed role, a credential
/// process); [`ErrorKind::InvalidRequest`] when no region is set anywhere.
pub(super) fn resolve(
    source: &CredentialSource,
    region: Option<&str>,
    env: &dyn Environment,
) -> Result<Resolved, ProviderError> {
    let env_region = || {
        env.var("AWS_REGION")
            .or_else(|| env.var("AWS_DEFAULT_REGION"))
    };
    let profile_name = || {
        env.var("AWS_PROFILE")
            .unwrap_or_else(|| "default".to_owned())
    };
    let (credentials, profile) = match source {
        CredentialSource::Static(keys) => (keys.clone(), None),
        CredentialSource::Environment => (
            from_environment(env).ok_or_else(|| {
                auth("no AWS credentials in the environment: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
            })?,
            None,
        ),
        CredentialSource::Profile(name) => {
            let profile = read_profile(name, env)?;
            (profile_credentials(name, &profile)?, Some(profile))
        }
        CredentialSource::Standard => match from_environment(env) {
            Some(keys) => (keys, None),
            None => {
                let name = profile_name();
                let profile = read_profile(&name, env).map_err(|e| {
                    auth(format!(
                        "no AWS credentials in the environment (AWS_ACCESS_KEY_ID, \
                         AWS_SECRET_ACCESS_KEY) and {}",
                        e.message()
                    ))
                })?;
                (profile_credentials(&name, &profile)?, Some(profile))
            }
        },
    };
    let profile_region = || match (&profile, source) {
        (Some(profile), _) => profile.region.clone(),
        // Keys from elsewhere still take the region of the profile in force, as the
        // SDKs do; an unreadable or missing file just has none.
        (None, CredentialSource::Static(_) | CredentialSource::Standard) => {
            read_profile(&profile_name(), env)
                .ok()
                .and_then(|p| p.region)
        }
        (None, _) => None,
    };
    let region = region
        .map(str::to_owned)
        .or_else(env_region)
        .or_else(profile_region)
        .ok_or_else(|| {
            ProviderError::new(
                ErrorKind::InvalidRequest,
                "no AWS region: set one on the adapter (`Bedrock::new().region(..)`, or \
                 `region` in the config file), or AWS_REGION, or `region` in the profile",
            )
        })?;
    Ok(Resolved {
        credentials,
        region,
    })
}

fn from_environment(env: &dyn Environment) -> Option<AwsCredentials> {
    let id = env.var("AWS_ACCESS_KEY_ID")?;
    let secret = env.var("AWS_SECRET_ACCESS_KEY")?;
    let keys = AwsCredentials::new(id, secret);
    Some(match env.var("AWS_SESSION_TOKEN") {
        Some(token) => keys.session_token(token),
        None => keys,
    })
}

/// The named profile from both shared files; a missing file counts as empty.
fn read_profile(name: &str, env: &dyn Environment) -> Result<ProfileSettings, ProviderError> {
    let home = || {
        env.var("HOME")
            .or_else(|| env.var("USERPROFILE"))
            .map(PathBuf::from)
    };
    let credentials_path = env
        .var("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".aws").join("credentials")));
    let config_path = env
        .var("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".aws").join("config")));
    let read = |path: &Option<PathBuf>| -> Result<Option<String>, ProviderError> {
        let Some(path) = path else { return Ok(None) };
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(auth(format!(
                "cannot read the AWS shared file {}: {e}",
                path.display()
            ))),
        }
    };
    let credentials = read(&credentials_path)?;
    let config = read(&config_path)?;
    shared_files::profile(name, credentials.as_deref(), config.as_deref()).ok_or_else(|| {
        auth(format!(
            "AWS profile `{name}` is in neither {} nor {}",
            shown(&credentials_path),
            shown(&config_path)
        ))
    })
}

fn shown(path: &Option<PathBuf>) -> String {
    path.as_ref().map_or_else(
        || "the credentials file (no HOME)".to_owned(),
        |p| p.display().to_string(),
    )
}

/// The keys a profile holds, or why it holds none routewise can use.
fn profile_credentials(
    name: &str,
    profile: &ProfileSettings,
) -> Result<AwsCredentials, ProviderError> {
    match (&profile.access_key_id, &profile.secret_access_key) {
        (Some(id), Some(secret)) => {
            let keys = AwsCredentials::new(id.as_str(), secret.as_str());
            Ok(match &profile.session_token {
                Some(token) => keys.session_token(token.as_str()),
                None => keys,
            })
        }
        _ => Err(auth(match &profile.other_source {
            Some(key) => format!(
                "AWS profile `{name}` gets its credentials through `{key}`, which routewise \
                 does not resolve; give it keys, or export them into the environment \
                 (`aws configure export-credentials --profile {name} --format env`)"
            ),
            None => {
                format!("AWS profile `{name}` has no aws_access_key_id and aws_secret_access_key")
            }
        })),
    }
}

fn auth(message: impl Into<String>) -> ProviderError {
    ProviderError::new(ErrorKind::Auth, message)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct Vars(HashMap<&'static str, String>);

    impl Environment for Vars {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).cloned()
        }
    }

    fn vars(pairs: &[(&'static str, &str)]) -> Vars {
        Vars(pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect())
    }

    fn files(credentials: &str, config: &str) -> (tempfile::TempDir, Vec<(&'static str, String)>) {
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path().join("credentials");
        let f = dir.path().join("config");
        std::fs::write(&c, credentials).unwrap();
        std::fs::write(&f, config).unwrap();
        let paths = vec![
            ("AWS_SHARED_CREDENTIALS_FILE", c.display().to_string()),
            ("AWS_CONFIG_FILE", f.display().to_string()),
        ];
        (dir, paths)
    }

    fn with(paths: &[(&'static str, String)], more: &[(&'static str, &str)]) -> Vars {
        let mut all: Vec<(&'static str, &str)> =
            paths.iter().map(|(k, v)| (*k, v.as_str())).collect();
        all.extend_from_slice(more);
        vars(&all)
    }

    #[test]
    fn the_environment_wins_over_the_files_in_the_standard_order() {
        let (_dir, paths) = files(
            "[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = FILESECRET\n",
            "[default]\nregion = eu-west-1\n",
        );
        let env = with(
            &paths,
            &[
                ("AWS_ACCESS_KEY_ID", "ENVKEY"),
                ("AWS_SECRET_ACCESS_KEY", "ENVSECRET"),
                ("AWS_SESSION_TOKEN", "ENVTOKEN"),
            ],
        );
        let resolved = resolve(&CredentialSource::Standard, None, &env).unwrap();
        assert_eq!(resolved.credentials.access_key_id(), "ENVKEY");
        assert_eq!(resolved.credentials.token(), Some("ENVTOKEN"));
        // The region still comes from the default profile.
        assert_eq!(resolved.region, "eu-west-1");
    }

    #[test]
    fn aws_profile_picks_the_profile_and_the_config_files_profile_prefix_is_understood() {
        let (_dir, paths) = files(
            "[default]\naws_access_key_id = D\naws_secret_access_key = DS\n\n[work]\naws_access_key_id = W\naws_secret_access_key = WS\naws_session_token = WT\n",
            "[profile work]\nregion = ap-southeast-2\n",
        );
        let env = with(&paths, &[("AWS_PROFILE", "work")]);
        let resolved = resolve(&CredentialSource::Standard, None, &env).unwrap();
        assert_eq!(resolved.credentials.access_key_id(), "W");
        assert_eq!(resolved.credentials.token(), Some("WT"));
        assert_eq!(resolved.region, "ap-southeast-2");
        let named = resolve(
            &CredentialSource::Profile("default".into()),
            Some("us-east-1"),
            &env,
        )
        .unwrap();
        assert_eq!(named.credentials.access_key_id(), "D");
        assert_eq!(named.region, "us-east-1");
    }

    #[test]
    fn the_adapters_region_wins_then_aws_region_then_aws_default_region() {
        let keys = CredentialSource::Static(AwsCredentials::new("K", "S"));
        let env = vars(&[
            ("AWS_REGION", "eu-central-1"),
            ("AWS_DEFAULT_REGION", "us-west-2"),
        ]);
        assert_eq!(
            resolve(&keys, Some("us-east-2"), &env).unwrap().region,
            "us-east-2"
        );
        assert_eq!(resolve(&keys, None, &env).unwrap().region, "eu-central-1");
        let env = vars(&[("AWS_DEFAULT_REGION", "us-west-2")]);
        assert_eq!(resolve(&keys, None, &env).unwrap().region, "us-west-2");
        let error = resolve(&keys, None, &vars(&[("HOME", "/nonexistent")])).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidRequest);
        assert!(error.message().contains("no AWS region"), "{error}");
    }

    #[test]
    fn missing_credentials_and_profiles_are_auth_errors_that_say_where_routewise_looked() {
        let (_dir, paths) = files("[default]\naws_access_key_id = D\n", "");
        let env = with(&paths, &[("AWS_REGION", "us-east-1")]);
        let error = resolve(&CredentialSource::Environment, None, &env).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Auth);
        assert!(error.message().contains("AWS_ACCESS_KEY_ID"), "{error}");
        let error = resolve(&CredentialSource::Profile("nope".into()), None, &env).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Auth);
        assert!(
            error.message().contains("profile `nope` is in neither"),
            "{error}"
        );
        let error = resolve(&CredentialSource::Standard, None, &env).unwrap_err();
        assert!(
            error
                .message()
                .contains("no aws_access_key_id and aws_secret_access_key"),
            "{error}"
        );
    }

    #[test]
    fn profiles_that_need_sso_or_a_role_say_so_and_how_to_export_keys() {
        let (_dir, paths) = files(
            "",
            "[profile sso]\nsso_session = corp\nregion = us-east-1\n",
        );
        let env = with(&paths, &[]);
        let error = resolve(&CredentialSource::Profile("sso".into()), None, &env).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Auth);
        assert!(error.message().contains("through `sso_session`"), "{error}");
        assert!(
            error.message().contains("export-credentials --profile sso"),
            "{error}"
        );
    }

    #[test]
    fn debug_shows_no_secret_and_only_the_key_ids_prefix() {
        let keys = AwsCredentials::new("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG")
            .session_token("TOKENVALUE");
        let shown = format!("{keys:?} {:?}", CredentialSource::Static(keys.clone()));
        assert!(shown.contains("AKIA…"), "{shown}");
        for secret in ["IOSFODNN7", "wJalr", "TOKENVALUE"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
