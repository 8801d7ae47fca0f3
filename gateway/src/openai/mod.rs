//! `POST /v1/chat/completions`, in the OpenAI wire format.

pub(crate) mod request;
mod response;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::Response;
use routewise::StreamEvent;

use crate::error::{ApiError, Wire};
use crate::server::{Frames, Gateway};
pub(crate) use request::CompletionRequest;
use response::Chunks;

const ENDPOINT: &str = "chat_completions";

pub(crate) async fn handle(
    gateway: Gateway,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let mut streaming = None;
    let routed = gateway
        .admit(&headers, body, |wire: CompletionRequest| {
            streaming = Some((
                wire.stream,
                wire.stream_options
                    .as_ref()
                    .is_some_and(|o| o.include_usage),
            ));
            let model = wire.model.clone();
            Ok((model, wire.into_chat()?))
        })
        .await;
    let routed = match routed {
        Ok(routed) => routed,
        Err(error) => return gateway.fail(error, Wire::OpenAi, ENDPOINT),
    };
    let model = routed.request.model.clone().unwrap_or_default();
    match streaming {
        Some((true, include_usage)) => {
            gateway
                .stream(routed, Wire::OpenAi, ENDPOINT, move |id, created| {
                    Box::new(Chunks::new(id, created, model, include_usage))
                })
                .await
        }
        _ => {
            gateway
                .complete(routed, Wire::OpenAi, ENDPOINT, |id, created, response| {
                    response::completion(id, created, &model, response)
                })
                .await
        }
    }
}

impl Frames for Chunks {
    fn opening(&mut self) -> String {
        Chunks::opening(self)
    }

    fn event(&mut self, event: &StreamEvent) -> String {
        Chunks::event(self, event)
    }

    fn error(&mut self, error: &ApiError) -> String {
        Chunks::error(self, error)
    }
}
