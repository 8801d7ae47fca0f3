//! A provider that records what it was asked, for tests that check what reaches providers.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use routewise::{
    Provider, ProviderError, ProviderRequest, ProviderResponse, SamplingParams, Usage,
};

/// What one call carried.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub model: String,
    pub account: String,
    pub params: SamplingParams,
    pub messages: usize,
}

/// Answers "recorded" and keeps every call's effective parameters.
#[derive(Clone, Default)]
pub struct RecordingProvider {
    calls: Arc<Mutex<Vec<Recorded>>>,
}

impl RecordingProvider {
    pub fn calls(&self) -> Vec<Recorded> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait]
impl Provider for RecordingProvider {
    fn provider_name(&self) -> &str {
        "recording"
    }

    async fn complete(
        &self,
        request: ProviderRequest<'_>,
    ) -> Result<ProviderResponse, ProviderError> {
        self.calls.lock().unwrap().push(Recorded {
            model: request.model().to_owned(),
            account: request.account().name().to_owned(),
            params: request.params().to_params(),
            messages: request.messages().len(),
        });
        Ok(ProviderResponse::text("recorded", Usage::new(1, 1)))
    }
}
