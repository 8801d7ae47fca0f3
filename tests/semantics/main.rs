//! Routing semantics under real provider behaviour, every call counted at a loopback
//! upstream that speaks the OpenAI wire format: exact attempt caps, 429 cool-downs,
//! rejected credentials, declining backends, per-target breakers and headroom balancing.

#[path = "../support/mod.rs"]
mod support;

mod attempts;
mod breakers;
mod cool_down;
mod credentials;
mod declined;
mod headroom;
mod messages;
mod taxonomy;
