//! `POST /v1/messages`, in the Anthropic wire format.

mod request;
mod response;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::Response;

use crate::error::Wire;
use crate::server::Gateway;
use request::MessagesRequest;
use response::Events;

const ENDPOINT: &str = "messages";

pub(crate) async fn handle(
    gateway: Gateway,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let mut streaming = false;
    let routed = gateway
        .admit(&headers, body, |wire: MessagesRequest| {
            streaming = wire.stream;
            let model = wire.model.clone();
            Ok((model, wire.into_chat()?))
        })
        .await;
    let routed = match routed {
        Ok(routed) => routed,
        Err(error) => return gateway.fail(error, Wire::Anthropic, ENDPOINT),
    };
    let model = routed.request.model.clone().unwrap_or_default();
    if streaming {
        gateway
            .stream(routed, Wire::Anthropic, ENDPOINT, move |id, _| {
                Box::new(Events::new(id, model))
            })
            .await
    } else {
        gateway
            .complete(routed, Wire::Anthropic, ENDPOINT, |id, _, response| {
                response::message(id, &model, response)
            })
            .await
    }
}
