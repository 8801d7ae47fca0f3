//! Bring your own backend: implement `Provider` for anything (an in-house model server, a
//! rules engine, a cache) and route to it like to any vendor.
//!
//! ```text
//! cargo run --example custom_provider
//! ```

use std::collections::HashMap;

use routewise::{
    ChatRequest, ErrorKind, LogicalModel, Message, Policy, Provider, ProviderAccount,
    ProviderError, ProviderRequest, ProviderResponse, Purpose, Router, StepType, Target, Usage,
    async_trait,
};

/// Answers from a table of canned replies; anything else is "not found", which the policy
/// falls back on.
struct CannedAnswers {
    answers: HashMap<&'static str, &'static str>,
}

#[async_trait]
impl Provider for CannedAnswers {
    fn provider_name(&self) -> &str {
        "canned"
    }

    async fn complete(
        &self,
        request: ProviderRequest<'_>,
    ) -> Result<ProviderResponse, ProviderError> {
        let question = request
            .messages()
            .iter()
            .rev()
            .find(|m| matches!(m, Message::User { .. }))
            .map(Message::text)
            .ok_or_else(|| ProviderError::new(ErrorKind::InvalidRequest, "no user message"))?;
        let answer = self.answers.get(question.trim()).ok_or_else(|| {
            ProviderError::new(
                ErrorKind::NotFound,
                format!("no canned answer for {question:?}"),
            )
        })?;
        let usage = Usage::new(request.estimate_input_tokens(), 5);
        Ok(ProviderResponse::text(*answer, usage))
    }
}

/// A stand-in for an expensive general model.
struct EchoModel;

#[async_trait]
impl Provider for EchoModel {
    fn provider_name(&self) -> &str {
        "echo"
    }

    async fn complete(
        &self,
        request: ProviderRequest<'_>,
    ) -> Result<ProviderResponse, ProviderError> {
        let last = request
            .messages()
            .last()
            .map(Message::text)
            .unwrap_or_default();
        let temperature = request.params().temperature().unwrap_or(1.0);
        Ok(ProviderResponse::text(
            format!("(general model at temperature {temperature}) you said: {last}"),
            Usage::new(request.estimate_input_tokens(), 20),
        ))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let canned = CannedAnswers {
        answers: HashMap::from([("What are your opening hours?", "9 to 5, Monday to Friday.")]),
    };
    let router = Router::builder()
        .account(ProviderAccount::new("faq", canned))
        .account(ProviderAccount::new("general", EchoModel))
        .model(
            LogicalModel::new("support-llm")
                .target(Target::new("faq", "canned-v1"))
                .target(Target::new("general", "echo-v1")),
        )
        .policy(Policy::new("support").route(["support-llm"]))
        .build()?;

    for question in ["What are your opening hours?", "Can I pay by card?"] {
        let response = router
            .complete(
                StepType::Inference,
                Purpose::Chat,
                ChatRequest::user(question),
            )
            .await?;
        println!(
            "{question}\n  -> {} [{}]",
            response.content, response.served_by
        );
    }
    Ok(())
}
