//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod conformance;
pub mod openai_cases;
pub mod recording_server;
