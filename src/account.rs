//! Provider accounts: credentials and endpoint of one provider, shared by its targets.

use std::fmt;
use std::sync::Arc;

use crate::budget::{Budget, PricingTable};
use crate::limits::RateLimits;
use crate::provider::Provider;
use crate::provider::profile::ProfileTable;

/// A secret (an API key, a header value) that never shows in `Debug`, logs or errors.
///
/// ```
/// use routewise::SecretString;
///
/// let key = SecretString::new("sk-live-123");
/// assert_eq!(format!("{key:?}"), "SecretString(\"***\")");
/// assert_eq!(key.expose(), "sk-live-123");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(Arc<str>);

impl SecretString {
    /// Wraps a secret.
    pub fn new(secret: impl Into<Arc<str>>) -> Self {
        Self(secret.into())
    }

    /// The secret itself. Call this only where the secret leaves for the provider.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SecretString").field(&"***").finish()
    }
}

impl From<&str> for SecretString {
    fn from(secret: &str) -> Self {
        Self::new(secret)
    }
}

impl From<String> for SecretString {
    fn from(secret: String) -> Self {
        Self::new(secret)
    }
}

/// What a [`Provider`] needs to know about the account it calls through: name,
/// credentials, endpoint and extra headers.
#[derive(Clone, Debug)]
pub struct AccountInfo {
    name: Arc<str>,
    api_key: Option<SecretString>,
    base_url: Option<String>,
    headers: Vec<(String, SecretString)>,
}

impl AccountInfo {
    /// Account info with a name and nothing else, for calling a provider directly (in tests
    /// of a custom provider, say).
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Self {
            name: name.into(),
            api_key: None,
            base_url: None,
            headers: Vec::new(),
        }
    }

    /// The account name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The API key, if the account has one.
    pub fn api_key(&self) -> Option<&SecretString> {
        self.api_key.as_ref()
    }

    /// The base URL, if it overrides the provider's default.
    pub fn base_url(&self) -> Option<&str> {
        self.base_url.as_deref()
    }

    /// Extra headers to send with every request (values are secret: they may hold tokens).
    pub fn headers(&self) -> &[(String, SecretString)] {
        &self.headers
    }

    /// A 64-bit hash of what authenticates the account (API key, base URL, headers): it
    /// tells changed credentials apart without keeping or revealing the secrets.
    pub(crate) fn credentials_fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        // Fixed keys: every instance of a fleet computes the same value.
        let mut hasher = std::hash::DefaultHasher::new();
        self.api_key
            .as_ref()
            .map(SecretString::expose)
            .hash(&mut hasher);
        self.base_url.hash(&mut hasher);
        for (name, value) in &self.headers {
            (name, value.expose()).hash(&mut hasher);
        }
        hasher.finish()
    }
}

/// Credentials, endpoint and backend for one provider account.
///
/// Several [`Target`](crate::Target)s may share an account; limits, budgets and health are
/// kept per account.
///
/// ```
/// use routewise::ProviderAccount;
/// use routewise::sim::SimProvider;
///
/// let account = ProviderAccount::new("sim-main", SimProvider::new())
///     .api_key("sk-test")
///     .base_url("http://127.0.0.1:8080/v1")
///     .header("x-team", "search");
/// assert_eq!(account.name(), "sim-main");
/// assert!(!format!("{account:?}").contains("sk-test"));
/// ```
#[derive(Clone)]
#[must_use]
pub struct ProviderAccount {
    pub(crate) info: AccountInfo,
    pub(crate) provider: Arc<dyn Provider>,
    pub(crate) limits: Option<RateLimits>,
    pub(crate) budget: Option<Budget>,
    /// Prices set for the account; `None`: its model profiles' prices.
    pub(crate) pricing: Option<Arc<PricingTable>>,
    pub(crate) profiles: ProfileTable,
}

impl ProviderAccount {
    /// An account named `name` served by `provider`.
    pub fn new(name: impl Into<Arc<str>>, provider: impl Provider) -> Self {
        Self::with_shared_provider(name, Arc::new(provider))
    }

    /// An account served by a provider shared with other accounts.
    pub fn with_shared_provider(name: impl Into<Arc<str>>, provider: Arc<dyn Provider>) -> Self {
        Self {
            info: AccountInfo::new(name),
            provider,
            limits: None,
            budget: None,
            pricing: None,
            profiles: ProfileTable::builtin().clone(),
        }
    }

    /// Requests-per-minute and tokens-per-minute limits. A target whose account would
    /// exceed them is skipped until capacity returns.
    ///
    /// ```
    /// use routewise::{ProviderAccount, RateLimits};
    /// use routewise::sim::SimProvider;
    ///
    /// let account = ProviderAccount::new("sim", SimProvider::new())
    ///     .limits(RateLimits::new().rpm(500).tpm(200_000));
    /// # let _ = account;
    /// ```
    pub fn limits(mut self, limits: RateLimits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// A dollar budget per window (a UTC calendar month by default), with alerts at its
    /// thresholds. An exhausted account is skipped until the next window.
    ///
    /// ```
    /// use routewise::{Budget, ProviderAccount};
    /// use routewise::sim::SimProvider;
    ///
    /// let account = ProviderAccount::new("sim", SimProvider::new())
    ///     .budget(Budget::monthly_usd(250.0));
    /// # let _ = account;
    /// ```
    pub fn budget(mut self, budget: Budget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Prices of this account's provider models, over the prices of its model profiles
    /// (by default the shipped table's, the same as [`PricingTable::defaults`]). A target
    /// can still override its own price ([`Target::price`](crate::Target::price)).
    pub fn pricing(mut self, pricing: PricingTable) -> Self {
        self.pricing = Some(Arc::new(pricing));
        self
    }

    /// The model profiles of this account's provider models (default:
    /// [`ProfileTable::builtin`]): what each accepts, its window and its price. Extend the
    /// shipped table with a LiteLLM-format file or rules of your own.
    ///
    /// ```
    /// use routewise::{ProfileTable, ProviderAccount};
    /// use routewise::provider::profile::ModelRules;
    /// use routewise::sim::SimProvider;
    ///
    /// let profiles = ProfileTable::builtin()
    ///     .clone()
    ///     .with_rules("my-llama", ModelRules::new().unsupported(["seed"]));
    /// let account = ProviderAccount::new("local", SimProvider::new()).profiles(profiles);
    /// # let _ = account;
    /// ```
    pub fn profiles(mut self, profiles: ProfileTable) -> Self {
        self.profiles = profiles;
        self
    }

    /// Sets the API key.
    pub fn api_key(mut self, key: impl Into<SecretString>) -> Self {
        self.info.api_key = Some(key.into());
        self
    }

    /// Overrides the provider's default base URL.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.info.base_url = Some(url.into());
        self
    }

    /// Adds a header sent with every request to this account.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<SecretString>) -> Self {
        self.info.headers.push((name.into(), value.into()));
        self
    }

    /// The account name.
    pub fn name(&self) -> &str {
        self.info.name()
    }

    /// What the provider sees of this account.
    pub fn info(&self) -> &AccountInfo {
        &self.info
    }
}

impl fmt::Debug for ProviderAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderAccount")
            .field("name", &self.info.name)
            .field("provider", &self.provider.provider_name())
            .field("base_url", &self.info.base_url)
            .field("api_key", &self.info.api_key)
            .field("headers", &self.info.headers)
            .field("limits", &self.limits)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}
