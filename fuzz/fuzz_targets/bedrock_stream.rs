//! bedrock ConverseStream bodies (AWS event-stream binary framing), in chunks of any size
//! and with or without a JSON-mode answer tool (wrapped or not): no panic, at most one
//! `Finished`, nothing after the end, no secret in any error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use routewise::provider::bedrock::fuzzing;
use routewise_fuzz::{account, drain, stream_response};

fuzz_target!(|data: &[u8]| {
    let Some((response, json_mode)) = stream_response(data) else {
        return;
    };
    let answer_tool = json_mode.then(|| "json_object".to_owned());
    // The chunk-size byte's bit 6 picks the wrapped-answer decoding.
    let wrapped = json_mode && data[0] & 0x40 != 0;
    drain(fuzzing::stream(response, answer_tool, wrapped, account()));
});
