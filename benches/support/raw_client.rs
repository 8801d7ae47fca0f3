//! The baseline: a hand-written OpenAI chat call with reqwest and serde and nothing else.
//!
//! It serializes the same request body the adapters send, posts it, and parses the answer
//! into content, finish reason and usage (or, streaming, splits SSE frames and parses each
//! chunk), which is the least work any client must do. Anything a router adds shows
//! against it.

use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// A raw client of one OpenAI-compatible endpoint.
#[derive(Clone)]
pub struct RawClient {
    http: reqwest::Client,
    url: String,
    authorization: String,
}

#[derive(Serialize)]
struct ChatBody<'a> {
    model: &'a str,
    messages: [Message<'a>; 1],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'a str,
    content: &'a str,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: Option<Content>,
    delta: Option<Content>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Content {
    content: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    prompt_tokens: u32,
    completion_tokens: u32,
}

/// What a call produced: the text, and the tokens counted.
#[derive(Debug, Default)]
pub struct RawAnswer {
    /// The generated text.
    pub content: String,
    /// Why generation ended.
    pub finish_reason: Option<String>,
    /// Prompt plus completion tokens.
    pub tokens: u32,
}

impl RawClient {
    /// A client of `base_url` (ending in `/v1`).
    pub fn new(base_url: &str, api_key: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            url: format!("{base_url}/chat/completions"),
            authorization: format!("Bearer {api_key}"),
        }
    }

    fn post(&self, prompt: &str, stream: bool) -> reqwest::RequestBuilder {
        let body = ChatBody {
            model: "bench-model",
            messages: [Message {
                role: "user",
                content: prompt,
            }],
            stream,
            stream_options: stream.then_some(StreamOptions {
                include_usage: true,
            }),
        };
        let body = serde_json::to_vec(&body).expect("a request body serializes");
        self.http
            .post(&self.url)
            .header(reqwest::header::AUTHORIZATION, &self.authorization)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
    }

    /// One non-streaming call.
    pub async fn complete(&self, prompt: &str) -> Result<RawAnswer, String> {
        let response = self
            .post(prompt, false)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("status {status}"));
        }
        let completion: Completion = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
        let mut answer = RawAnswer::default();
        if let Some(choice) = completion.choices.into_iter().next() {
            answer.content = choice.message.and_then(|m| m.content).unwrap_or_default();
            answer.finish_reason = choice.finish_reason;
        }
        answer.tokens = completion
            .usage
            .map_or(0, |u| u.prompt_tokens + u.completion_tokens);
        Ok(answer)
    }

    /// One streaming call: the answer, and the time from `started` to the first text.
    pub async fn stream(
        &self,
        prompt: &str,
        started: Instant,
    ) -> Result<(RawAnswer, Duration), String> {
        let response = self
            .post(prompt, true)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("status {}", response.status()));
        }
        let mut body = response.bytes_stream();
        let mut buffer: Vec<u8> = Vec::new();
        let mut answer = RawAnswer::default();
        let mut first_text = None;
        while let Some(bytes) = body.next().await {
            buffer.extend_from_slice(&bytes.map_err(|e| e.to_string())?);
            while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
                let frame: Vec<u8> = buffer.drain(..end + 2).collect();
                let Some(data) = frame[..end].strip_prefix(b"data: ") else {
                    continue;
                };
                if data == b"[DONE]" {
                    let first = first_text.ok_or("the stream carried no text")?;
                    return Ok((answer, first));
                }
                let chunk: Completion = serde_json::from_slice(data).map_err(|e| e.to_string())?;
                if let Some(usage) = chunk.usage {
                    answer.tokens = usage.prompt_tokens + usage.completion_tokens;
                }
                for choice in chunk.choices {
                    if let Some(text) = choice.delta.and_then(|d| d.content)
                        && !text.is_empty()
                    {
                        first_text.get_or_insert_with(|| started.elapsed());
                        answer.content.push_str(&text);
                    }
                    if choice.finish_reason.is_some() {
                        answer.finish_reason = choice.finish_reason;
                    }
                }
            }
        }
        Err("the stream ended before [DONE]".into())
    }
}
