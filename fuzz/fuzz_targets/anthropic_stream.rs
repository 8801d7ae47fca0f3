//! anthropic event streams, in chunks of any size and with or without a JSON-mode answer
//! tool: no panic, at most one `Finished`, nothing after the end, no secret in any error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use routewise::provider::anthropic::fuzzing;
use routewise_fuzz::{account, drain, stream_response};

fuzz_target!(|data: &[u8]| {
    let Some((response, json_mode)) = stream_response(data) else {
        return;
    };
    let answer_tool = json_mode.then(|| "json_object".to_owned());
    drain(fuzzing::stream(response, answer_tool, account()));
});
