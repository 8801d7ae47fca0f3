//! The profile table: model data and family rules, and the one lookup over them.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, LazyLock};

use serde::Deserialize;

use super::litellm::{self, LiteLlmError, ModelData};
use super::rules::{FamilyRules, match_length};
use super::{ModelProfile, ModelRules, ReasoningStyle};

/// Where the shipped model data comes from: LiteLLM's table at this version and date
/// (MIT licence), trimmed to OpenAI, Anthropic and Gemini chat models by
/// `scripts/profiles/generate.py`.
pub const BUILTIN_SOURCE: &str =
    "LiteLLM 1.110.2 model_prices_and_context_window.json, snapshot 2026-12-03 (MIT licence)";

const BUILTIN_MODELS: &str = include_str!("models.json");
const BUILTIN_RULES: &str = include_str!("rules.json");

static BUILTIN: LazyLock<ProfileTable> = LazyLock::new(|| {
    // Both files are checked in and parsed by a unit test: they cannot fail here.
    let data = litellm::parse(BUILTIN_MODELS).unwrap_or_default();
    let families = serde_json::from_str::<RulesFile>(BUILTIN_RULES)
        .map(|file| file.families)
        .unwrap_or_default();
    ProfileTable::from_parts(data, families)
});

#[derive(Deserialize)]
struct RulesFile {
    families: Vec<FamilyRules>,
}

/// Model profiles by provider model id: model data (windows, prices, capabilities) and
/// parameter rules by family, looked up in one place (see the [module docs](super)).
///
/// Cheap to clone: the resolved profiles are shared.
///
/// ```
/// use routewise::provider::profile::{ModelRules, ProfileTable};
///
/// let table = ProfileTable::builtin()
///     .clone()
///     .with_rules("my-llama", ModelRules::new().unsupported(["seed"]));
/// assert!(table.lookup("my-llama-70b").unwrap().refuses("seed"));
/// assert!(table.lookup("gpt-4o").is_some());
/// assert!(table.lookup("mystery-model").is_none());
/// ```
#[derive(Clone, Debug, Default)]
pub struct ProfileTable {
    data: Arc<HashMap<String, ModelData>>,
    /// Shipped family rules, then the ones added, which win at equal pattern length.
    families: Arc<Vec<(String, ModelRules)>>,
    /// Every model of `data`, resolved.
    resolved: Arc<HashMap<String, Arc<ModelProfile>>>,
    /// Each family pattern's profile, for ids the data does not know.
    family_profiles: Arc<Vec<(String, Arc<ModelProfile>)>>,
}

impl ProfileTable {
    /// The shipped table: LiteLLM's model data ([`BUILTIN_SOURCE`]) and the shipped
    /// family rules.
    pub fn builtin() -> &'static ProfileTable {
        &BUILTIN
    }

    fn from_parts(data: HashMap<String, ModelData>, families: Vec<FamilyRules>) -> Self {
        let families = families
            .into_iter()
            .flat_map(|f| f.patterns.into_iter().map(move |p| (p, f.rules.clone())))
            .collect();
        Self::resolve(Arc::new(data), Arc::new(families))
    }

    fn resolve(
        data: Arc<HashMap<String, ModelData>>,
        families: Arc<Vec<(String, ModelRules)>>,
    ) -> Self {
        let rules_for = |model: &str| {
            families
                .iter()
                .enumerate()
                .filter_map(|(i, (pattern, rules))| {
                    match_length(pattern, model).map(|len| ((len, i), rules))
                })
                .max_by_key(|(key, _)| *key)
                .map(|(_, rules)| rules)
        };
        let resolved = data
            .iter()
            .map(|(id, model)| (id.clone(), Arc::new(profile_of(Some(model), rules_for(id)))))
            .collect();
        let family_profiles = families
            .iter()
            .map(|(pattern, _)| {
                let rules = rules_for(pattern);
                (pattern.clone(), Arc::new(profile_of(None, rules)))
            })
            .collect();
        Self {
            data,
            families,
            resolved: Arc::new(resolved),
            family_profiles: Arc::new(family_profiles),
        }
    }

    /// This table with every chat model of a LiteLLM-format JSON text added, replacing
    /// the data of models it already knows (the family rules stay).
    ///
    /// # Errors
    ///
    /// When the text is not a JSON object, or a chat model's entry has a field of the
    /// wrong type (the error names the model).
    pub fn with_litellm_json(self, text: &str) -> Result<Self, LiteLlmError> {
        let mut data = (*self.data).clone();
        data.extend(litellm::parse(text)?);
        Ok(Self::resolve(Arc::new(data), self.families))
    }

    /// This table with the chat models of a LiteLLM-format file added, as
    /// [`with_litellm_json`](Self::with_litellm_json) does: for example a newer
    /// `model_prices_and_context_window.json` than the one routewise ships.
    ///
    /// # Errors
    ///
    /// When the file cannot be read, or as [`with_litellm_json`](Self::with_litellm_json).
    pub fn with_litellm_file(self, path: impl AsRef<Path>) -> Result<Self, LiteLlmError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| LiteLlmError::Read {
            path: path.to_owned(),
            source,
        })?;
        self.with_litellm_json(&text)
    }

    /// This table with `rules` for the models `pattern` matches (the id itself and ids
    /// continuing it after `-` or `.`). Added rules replace the rules of the same or a
    /// shorter pattern.
    #[must_use]
    pub fn with_rules(self, pattern: impl Into<String>, rules: ModelRules) -> Self {
        let mut families = (*self.families).clone();
        families.push((pattern.into(), rules));
        Self::resolve(self.data, Arc::new(families))
    }

    /// The profile of `model`: its data (as given, after a `provider/` or `models/`
    /// path, then without a version suffix) under its family's rules, else its family's
    /// rules alone; `None` when neither is known.
    pub fn lookup(&self, model: &str) -> Option<Arc<ModelProfile>> {
        let base = model.rsplit('/').next().unwrap_or(model);
        // A Bedrock id (`us.anthropic.claude-...-v1:0`) names the vendor's model inside.
        let base = bedrock_model(base).unwrap_or(base);
        let keys = [Some(model), Some(base), without_version(base)];
        if model.contains('/') && !model.starts_with("models/") {
            // Behind a gateway path the gateway translates parameters: data only.
            let data = keys
                .into_iter()
                .flatten()
                .find_map(|id| self.data.get(id))?;
            return Some(Arc::new(profile_of(Some(data), None)));
        }
        if let Some(profile) = keys
            .into_iter()
            .flatten()
            .find_map(|id| self.resolved.get(id))
        {
            return Some(profile.clone());
        }
        self.family_profiles
            .iter()
            .enumerate()
            .filter_map(|(i, (pattern, profile))| {
                match_length(pattern, base).map(|len| ((len, i), profile))
            })
            .max_by_key(|(key, _)| *key)
            .map(|(_, profile)| profile.clone())
    }

    /// Every model id the data knows, sorted.
    pub fn models(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.data.keys().map(String::as_str).collect();
        ids.sort_unstable();
        ids
    }
}

/// A profile from data and rules. A model the data says reasons, without a family rule
/// saying how, passes reasoning controls on as given; one it says does not, drops them.
fn profile_of(data: Option<&ModelData>, rules: Option<&ModelRules>) -> ModelProfile {
    let mut profile = ModelProfile::default();
    if let Some(data) = data {
        profile.provider = data.provider;
        profile.window = data.window;
        profile.price = data.price;
        profile.capabilities = data.capabilities;
        if !data.reasons {
            profile.reasoning = ReasoningStyle::None;
        }
    }
    if let Some(rules) = rules {
        rules.apply(&mut profile);
        if data.is_some_and(|d| !d.reasons) {
            profile.reasoning = ReasoningStyle::None;
        }
    }
    profile
}

/// The vendor's model id inside an AWS Bedrock model id: without the cross-region
/// inference profile's geography (`us.`, `eu.`, `apac.`, `global.`, ...), the vendor
/// (`anthropic.`, `meta.`, ...) and the Bedrock version (`-v1:0`, `-v2`), so
/// `us.anthropic.claude-sonnet-4-5-20250929-v1:0` is `claude-sonnet-4-5-20250929`.
/// `None` for ids that do not start with a known vendor.
fn bedrock_model(model: &str) -> Option<&str> {
    const GEOGRAPHIES: [&str; 9] = [
        "us", "eu", "apac", "global", "us-gov", "jp", "au", "ca", "de",
    ];
    const VENDORS: [&str; 12] = [
        "anthropic",
        "meta",
        "mistral",
        "amazon",
        "cohere",
        "ai21",
        "deepseek",
        "openai",
        "qwen",
        "writer",
        "google",
        "moonshot",
    ];
    let (first, rest) = model.split_once('.')?;
    let rest = if GEOGRAPHIES.contains(&first) {
        let (vendor, rest) = rest.split_once('.')?;
        VENDORS.contains(&vendor).then_some(rest)?
    } else {
        VENDORS.contains(&first).then_some(rest)?
    };
    let unversioned = rest.rsplit_once("-v").and_then(|(head, version)| {
        let (major, minor) = version.split_once(':').unwrap_or((version, "0"));
        let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        (number(major) && number(minor)).then_some(head)
    });
    Some(unversioned.unwrap_or(rest))
}

/// `model` without a trailing `-latest`, `-YYYY-MM-DD`, `-YYYYMMDD` or `-NNN`, or
/// Vertex AI's `@YYYYMMDD` / `@NNN` / `@latest` (`claude-sonnet-4-5@20250929`).
pub(crate) fn without_version(model: &str) -> Option<&str> {
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if let Some((head, tail)) = model.rsplit_once('@') {
        return (tail == "latest" || digits(tail, 8) || digits(tail, 3)).then_some(head);
    }
    let (head, tail) = model.rsplit_once('-')?;
    if tail == "latest" || digits(tail, 8) || digits(tail, 3) {
        return Some(head);
    }
    // -YYYY-MM-DD: the last dash split off the day; two more hold month and year.
    let (head, month) = head.rsplit_once('-')?;
    let (head, year) = head.rsplit_once('-')?;
    (digits(year, 4) && digits(month, 2) && digits(tail, 2)).then_some(head)
}
