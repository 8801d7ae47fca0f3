//! [`Preset`]: the OpenAI-compatible hosts routewise knows by name, with what each needs
//! and refuses, kept from their API references.

use std::fmt;
use std::str::FromStr;

/// An OpenAI-compatible host known by name: its base URL, its name in telemetry, the
/// request parameters it refuses, and whether it takes `stream_options`.
///
/// [`OpenAi::preset`](super::OpenAi::preset) makes an adapter for it; an account's
/// [`base_url`](crate::ProviderAccount::base_url) still replaces the preset's (a
/// self-hosted vLLM on another port, a regional endpoint). Every preset sends the account's
/// key as `Authorization: Bearer <key>`, and none when the account has no key (Ollama, LM
/// Studio and vLLM started without `--api-key` need none).
///
/// Parameters a host refuses join every target's [model profile](crate::provider::profile)
/// on that account: the router leaves them out and records the adaptation, instead of
/// sending a request the host answers with a 400 or 422. Model-level refusals (DeepSeek's
/// and xAI's reasoning models) are in the profiles' shipped rules.
///
/// | preset | name | base URL | refuses | notes |
/// |---|---|---|---|---|
/// | Mistral | `mistral` | `https://api.mistral.ai/v1` | `seed` (Mistral's is `random_seed`: send it as an extra), `logit_bias`, `logprobs`, `top_logprobs`, `user`, reasoning controls | rejects unknown fields with 422 `extra_forbidden`, so no `stream_options`: usage comes in the last chunk anyway |
/// | Groq | `groq` | `https://api.groq.com/openai/v1` | `logprobs`, `logit_bias`, `top_logprobs` | `n` must be 1; a temperature of 0 becomes 1e-8; stream usage also in `x_groq.usage` |
/// | DeepSeek | `deepseek` | `https://api.deepseek.com` | | `deepseek-reasoner` refuses sampling and log-probability parameters (profile rules); cache hits in `prompt_cache_hit_tokens` |
/// | Together AI | `together` | `https://api.together.xyz/v1` | | model ids such as `meta-llama/Llama-3.3-70B-Instruct-Turbo` |
/// | Fireworks AI | `fireworks` | `https://api.fireworks.ai/inference/v1` | | model ids such as `accounts/fireworks/models/llama-v3p1-70b-instruct` |
/// | OpenRouter | `openrouter` | `https://openrouter.ai/api/v1` | | model ids such as `anthropic/claude-sonnet-4.5`; `HTTP-Referer` / `X-Title` as account headers; 402 when credits run out |
/// | xAI | `xai` | `https://api.x.ai/v1` | | Grok reasoning models refuse `presence_penalty`, `frequency_penalty` and `stop` (profile rules) |
/// | Ollama | `ollama` | `http://localhost:11434/v1` | | no key; ignores parameters it does not know |
/// | vLLM | `vllm` | `http://localhost:8000/v1` | | key only if the server was started with `--api-key` |
/// | LM Studio | `lm_studio` | `http://localhost:1234/v1` | | no key |
///
/// ```
/// use routewise::provider::openai::Preset;
///
/// let groq: Preset = "groq".parse()?;
/// assert_eq!(groq.base_url(), "https://api.groq.com/openai/v1");
/// assert!(groq.refused_parameters().contains(&"logit_bias"));
/// assert!("grok".parse::<Preset>().unwrap_err().to_string().contains("`xai`"));
/// # Ok::<(), routewise::provider::openai::UnknownPreset>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub enum Preset {
    /// Mistral AI's La Plateforme.
    #[serde(rename = "mistral")]
    Mistral,
    /// GroqCloud.
    #[serde(rename = "groq")]
    Groq,
    /// DeepSeek's API.
    #[serde(rename = "deepseek")]
    DeepSeek,
    /// Together AI.
    #[serde(rename = "together")]
    Together,
    /// Fireworks AI.
    #[serde(rename = "fireworks")]
    Fireworks,
    /// OpenRouter.
    #[serde(rename = "openrouter")]
    OpenRouter,
    /// xAI (Grok).
    #[serde(rename = "xai")]
    XAi,
    /// A local Ollama server.
    #[serde(rename = "ollama")]
    Ollama,
    /// A vLLM server.
    #[serde(rename = "vllm")]
    Vllm,
    /// A local LM Studio server.
    #[serde(rename = "lm_studio")]
    LmStudio,
}

impl Preset {
    /// Every preset.
    pub const ALL: [Preset; 10] = [
        Preset::Mistral,
        Preset::Groq,
        Preset::DeepSeek,
        Preset::Together,
        Preset::Fireworks,
        Preset::OpenRouter,
        Preset::XAi,
        Preset::Ollama,
        Preset::Vllm,
        Preset::LmStudio,
    ];

    /// The name config files use, such as `groq` or `lm_studio`.
    pub const fn name(self) -> &'static str {
        match self {
            Preset::Mistral => "mistral",
            Preset::Groq => "groq",
            Preset::DeepSeek => "deepseek",
            Preset::Together => "together",
            Preset::Fireworks => "fireworks",
            Preset::OpenRouter => "openrouter",
            Preset::XAi => "xai",
            Preset::Ollama => "ollama",
            Preset::Vllm => "vllm",
            Preset::LmStudio => "lm_studio",
        }
    }

    /// Where the host serves Chat Completions (the adapter appends `/chat/completions`).
    pub const fn base_url(self) -> &'static str {
        match self {
            Preset::Mistral => "https://api.mistral.ai/v1",
            Preset::Groq => "https://api.groq.com/openai/v1",
            Preset::DeepSeek => "https://api.deepseek.com",
            Preset::Together => "https://api.together.xyz/v1",
            Preset::Fireworks => "https://api.fireworks.ai/inference/v1",
            Preset::OpenRouter => "https://openrouter.ai/api/v1",
            Preset::XAi => "https://api.x.ai/v1",
            Preset::Ollama => "http://localhost:11434/v1",
            Preset::Vllm => "http://localhost:8000/v1",
            Preset::LmStudio => "http://localhost:1234/v1",
        }
    }

    /// The name reported as `gen_ai.provider.name`: OpenTelemetry's well-known value
    /// where there is one (`mistral_ai`, `groq`, `deepseek`, `x_ai`), else the preset's
    /// name.
    pub const fn provider_name(self) -> &'static str {
        match self {
            Preset::Mistral => "mistral_ai",
            Preset::XAi => "x_ai",
            other => other.name(),
        }
    }

    /// Request parameters the host refuses for every model, by their
    /// [profile](crate::provider::profile::ModelProfile::unsupported) names.
    pub const fn refused_parameters(self) -> &'static [&'static str] {
        match self {
            Preset::Mistral => &[
                "seed",
                "logit_bias",
                "logprobs",
                "top_logprobs",
                "user",
                "reasoning",
            ],
            Preset::Groq => &["logprobs", "logit_bias", "top_logprobs"],
            _ => &[],
        }
    }

    /// Whether streams may ask for usage with `stream_options.include_usage`.
    pub const fn takes_stream_options(self) -> bool {
        !matches!(self, Preset::Mistral)
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Preset {
    type Err = UnknownPreset;

    /// A preset by its [name](Preset::name).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Preset::ALL
            .into_iter()
            .find(|preset| preset.name() == name)
            .ok_or_else(|| UnknownPreset(name.to_owned()))
    }
}

/// A preset name routewise does not know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown OpenAI-compatible preset `{0}`; the presets are `mistral`, `groq`, `deepseek`, \
     `together`, `fireworks`, `openrouter`, `xai`, `ollama`, `vllm` and `lm_studio` (or give \
     a `base_url` for any other compatible server)"
)]
pub struct UnknownPreset(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_is_found_by_its_name_and_has_a_url_that_parses() {
        for preset in Preset::ALL {
            assert_eq!(preset.name().parse::<Preset>(), Ok(preset));
            assert_eq!(preset.to_string(), preset.name());
            let named = serde_json::Value::String(preset.name().to_owned());
            assert_eq!(serde_json::from_value::<Preset>(named).unwrap(), preset);
            let url = reqwest::Url::parse(preset.base_url()).unwrap();
            assert!(url.path_segments().is_some(), "{preset}");
        }
    }
}
