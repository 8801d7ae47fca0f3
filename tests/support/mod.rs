//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod anthropic;
pub mod conformance;
pub mod recording_server;
