//! Vertex AI's URLs: the regional host, and a publisher model's resource path.

use crate::account::AccountInfo;
use crate::provider::{ErrorKind, ProviderError};

/// Which publisher serves a model on Vertex AI, which decides the wire format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Publisher {
    /// Google's Gemini models: `generateContent`, the Gemini API's format.
    Google,
    /// Anthropic's Claude models: `rawPredict`, the Messages API's format.
    Anthropic,
}

impl Publisher {
    fn as_str(self) -> &'static str {
        match self {
            Publisher::Google => "google",
            Publisher::Anthropic => "anthropic",
        }
    }
}

/// A target's model id as a publisher and a model: `google/<model>` and
/// `anthropic/<model>` say it outright; otherwise ids starting with `claude` are
/// Anthropic's and every other id is Google's. Ids are checked so they cannot reshape the
/// URL: letters, digits, `-`, `_`, `.` and `@` (Claude's `claude-sonnet-4-5@20250929`).
pub(super) fn publisher_model(model: &str) -> Result<(Publisher, &str), ProviderError> {
    let (publisher, id) = match model.split_once('/') {
        Some(("google", id)) => (Publisher::Google, id),
        Some(("anthropic", id)) => (Publisher::Anthropic, id),
        Some((other, _)) => {
            return Err(ProviderError::new(
                ErrorKind::NotFound,
                format!(
                    "model id `{model}`: publisher `{other}` is not served by this adapter; \
                     Vertex AI models here are `google/...` (Gemini) or `anthropic/...` (Claude)"
                ),
            ));
        }
        None if model.starts_with("claude") => (Publisher::Anthropic, model),
        None => (Publisher::Google, model),
    };
    let valid = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if valid {
        Ok((publisher, id))
    } else {
        Err(ProviderError::new(
            ErrorKind::NotFound,
            format!("model id `{model}` is not a Vertex AI model name"),
        ))
    }
}

/// Where Vertex AI serves `location`: `https://{location}-aiplatform.googleapis.com`, or
/// `https://aiplatform.googleapis.com` for `global`.
pub(super) fn default_base_url(location: &str) -> String {
    if location == "global" {
        "https://aiplatform.googleapis.com".to_owned()
    } else {
        format!("https://{location}-aiplatform.googleapis.com")
    }
}

/// The project and location of an adapter, and the base URL they imply.
#[derive(Clone, Debug)]
pub(super) struct Location {
    pub(super) project: String,
    pub(super) location: String,
    pub(super) default_base_url: String,
}

impl Location {
    pub(super) fn new(project: String, location: String) -> Self {
        Self {
            default_base_url: default_base_url(&location),
            project,
            location,
        }
    }

    /// `{base}/v1/projects/{project}/locations/{location}`, with the account's base URL
    /// over the regional default.
    pub(super) fn resource(&self, account: &AccountInfo) -> Result<String, ProviderError> {
        let segment_ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if !segment_ok(&self.project) || !segment_ok(&self.location) {
            return Err(ProviderError::new(
                ErrorKind::InvalidRequest,
                format!(
                    "account `{}`: Vertex AI project `{}` and location `{}` must be non-empty \
                     names of letters, digits, `-`, `_` and `.`",
                    account.name(),
                    self.project,
                    self.location
                ),
            ));
        }
        let base = account
            .base_url()
            .unwrap_or(&self.default_base_url)
            .trim_end_matches('/');
        Ok(format!(
            "{base}/v1/projects/{}/locations/{}",
            self.project, self.location
        ))
    }

    /// The URL of `method` (`generateContent`, `streamRawPredict`, ...) of a publisher
    /// model.
    pub(super) fn method_url(
        &self,
        account: &AccountInfo,
        publisher: Publisher,
        model: &str,
        method: &str,
    ) -> Result<reqwest::Url, ProviderError> {
        let url = format!(
            "{}/publishers/{}/models/{model}:{method}",
            self.resource(account)?,
            publisher.as_str()
        );
        parse(&url, account)
    }
}

/// `url` parsed, or an error naming the account whose base URL made it unusable.
pub(super) fn parse(url: &str, account: &AccountInfo) -> Result<reqwest::Url, ProviderError> {
    reqwest::Url::parse(url).map_err(|e| {
        ProviderError::new(
            ErrorKind::InvalidRequest,
            format!(
                "account `{}`: the Vertex AI URL `{url}` is not valid ({e}); check the base URL",
                account.name()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProviderAccount;
    use crate::sim::SimProvider;

    #[test]
    fn publishers_come_from_a_prefix_or_the_claude_name() {
        assert_eq!(
            publisher_model("gemini-2.5-flash").unwrap(),
            (Publisher::Google, "gemini-2.5-flash")
        );
        assert_eq!(
            publisher_model("claude-sonnet-4-5@20250929").unwrap(),
            (Publisher::Anthropic, "claude-sonnet-4-5@20250929")
        );
        assert_eq!(
            publisher_model("anthropic/claude-opus-4-1").unwrap(),
            (Publisher::Anthropic, "claude-opus-4-1")
        );
        assert_eq!(
            publisher_model("google/gemini-2.0-flash-001").unwrap(),
            (Publisher::Google, "gemini-2.0-flash-001")
        );
    }

    #[test]
    fn other_publishers_and_ids_that_would_reshape_the_url_are_refused() {
        for bad in [
            "meta/llama-4",
            "",
            "google/",
            "a b",
            "x?alt=1",
            "m:rawPredict",
            "a/b/c",
        ] {
            let error = publisher_model(bad).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::NotFound, "{bad}");
        }
    }

    #[test]
    fn urls_use_the_regional_host_the_global_one_or_the_accounts_base() {
        let account = AccountInfo::new("v");
        let east = Location::new("proj-1".into(), "us-east5".into());
        assert_eq!(
            east.method_url(
                &account,
                Publisher::Anthropic,
                "claude-haiku-4-5",
                "rawPredict"
            )
            .unwrap()
            .as_str(),
            "https://us-east5-aiplatform.googleapis.com/v1/projects/proj-1/locations/us-east5/publishers/anthropic/models/claude-haiku-4-5:rawPredict"
        );
        let global = Location::new("proj-1".into(), "global".into());
        assert_eq!(
            global.resource(&account).unwrap(),
            "https://aiplatform.googleapis.com/v1/projects/proj-1/locations/global"
        );
        let local = ProviderAccount::new("v", SimProvider::new()).base_url("http://127.0.0.1:9/");
        assert_eq!(
            east.method_url(
                local.info(),
                Publisher::Google,
                "gemini-2.5-pro",
                "generateContent"
            )
            .unwrap()
            .as_str(),
            "http://127.0.0.1:9/v1/projects/proj-1/locations/us-east5/publishers/google/models/gemini-2.5-pro:generateContent"
        );
    }

    #[test]
    fn a_project_or_location_that_would_reshape_the_url_is_refused() {
        let bad = Location::new("proj/../x".into(), "us-east5".into());
        let error = bad.resource(&AccountInfo::new("v")).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidRequest);
        assert!(error.message().contains("account `v`"), "{error}");
    }
}
