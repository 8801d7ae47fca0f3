//! Application default credentials: where Google's client libraries look for credentials,
//! in the same order.

use std::ffi::OsString;
use std::path::PathBuf;

use super::CredentialsError;
use super::source::{METADATA_URL, Source};

/// The source application default credentials name, with the environment read through
/// `env`:
///
/// 1. the file `GOOGLE_APPLICATION_CREDENTIALS` names (an error if it cannot be read);
/// 2. gcloud's `application_default_credentials.json` (under `CLOUDSDK_CONFIG`, else
///    `~/.config/gcloud`, or `%APPDATA%\gcloud` on Windows), if it exists;
/// 3. the metadata server, at `GCE_METADATA_HOST` if set.
pub(super) fn find(env: impl Fn(&str) -> Option<OsString>) -> Result<Source, CredentialsError> {
    if let Some(path) = env("GOOGLE_APPLICATION_CREDENTIALS").filter(|p| !p.is_empty()) {
        return Source::from_file(&PathBuf::from(path));
    }
    if let Some(path) = gcloud_file(&env).filter(|p| p.is_file()) {
        return Source::from_file(&path);
    }
    Ok(Source::Metadata {
        url: metadata_url(&env),
    })
}

/// The metadata server's base URL: `http://` and `GCE_METADATA_HOST` when set.
pub(super) fn metadata_url(env: &impl Fn(&str) -> Option<OsString>) -> String {
    env("GCE_METADATA_HOST")
        .and_then(|host| host.into_string().ok())
        .filter(|host| !host.is_empty())
        .map_or_else(|| METADATA_URL.to_owned(), |host| format!("http://{host}"))
}

/// Where gcloud keeps the application default credentials it was given.
fn gcloud_file(env: &impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let folder = match env("CLOUDSDK_CONFIG") {
        Some(dir) => PathBuf::from(dir),
        None if cfg!(windows) => PathBuf::from(env("APPDATA")?).join("gcloud"),
        None => PathBuf::from(env("HOME")?).join(".config").join("gcloud"),
    };
    Some(folder.join("application_default_credentials.json"))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let vars: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        move |name| vars.get(name).cloned()
    }

    const USER: &str = r#"{"type": "authorized_user", "client_id": "id.apps.googleusercontent.com",
        "client_secret": "s3cret-value", "refresh_token": "1//refresh-token-value",
        "quota_project_id": "quota-proj"}"#;

    #[test]
    fn the_environment_variables_file_comes_first() {
        let dir = tempfile::tempdir().unwrap();
        let named = dir.path().join("named.json");
        std::fs::write(&named, USER).unwrap();
        let gcloud = dir.path().join("gcloud");
        std::fs::create_dir(&gcloud).unwrap();
        std::fs::write(gcloud.join("application_default_credentials.json"), "{}").unwrap();
        let source = find(env(&[
            ("GOOGLE_APPLICATION_CREDENTIALS", named.to_str().unwrap()),
            ("CLOUDSDK_CONFIG", gcloud.to_str().unwrap()),
        ]))
        .unwrap();
        assert!(matches!(source, Source::AuthorizedUser(_)));
        assert_eq!(source.project_id(), Some("quota-proj"));
    }

    #[test]
    fn a_named_file_that_cannot_be_read_is_an_error_naming_it() {
        let error = find(env(&[(
            "GOOGLE_APPLICATION_CREDENTIALS",
            "/nonexistent/key.json",
        )]))
        .unwrap_err();
        assert!(
            error.to_string().contains("/nonexistent/key.json"),
            "{error}"
        );
    }

    #[test]
    fn gclouds_file_is_next_then_the_metadata_server() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_str().unwrap();
        let source = find(env(&[("HOME", home), ("APPDATA", home)])).unwrap();
        assert!(matches!(&source, Source::Metadata { url } if url == METADATA_URL));
        let folder = if cfg!(windows) {
            dir.path().join("gcloud")
        } else {
            dir.path().join(".config").join("gcloud")
        };
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("application_default_credentials.json"), USER).unwrap();
        let source = find(env(&[("HOME", home), ("APPDATA", home)])).unwrap();
        assert!(matches!(source, Source::AuthorizedUser(_)));
    }

    #[test]
    fn gce_metadata_host_moves_the_metadata_server() {
        let source = find(env(&[("GCE_METADATA_HOST", "127.0.0.1:8089")])).unwrap();
        assert!(matches!(&source, Source::Metadata { url } if url == "http://127.0.0.1:8089"));
    }
}
