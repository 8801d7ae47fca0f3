//! openai event streams, in chunks of any size: no panic, at most one `Finished`,
//! nothing after the end, no secret in any error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use routewise::provider::openai::fuzzing;
use routewise_fuzz::{account, drain, stream_response};

fuzz_target!(|data: &[u8]| {
    let Some((response, _)) = stream_response(data) else {
        return;
    };
    drain(fuzzing::stream(response, account()));
});
