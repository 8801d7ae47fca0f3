//! bedrock answers: a success body through the Converse response parser (with or without
//! a JSON-mode answer tool), or an error answer (status, `retry-after`, body) through the
//! error classifier. No panic, no secret in any error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use routewise::provider::bedrock::fuzzing;
use routewise_fuzz::{ResponseInput, account, check_error, check_result};

fuzz_target!(|data: &[u8]| {
    let Some(input) = ResponseInput::parse(data) else {
        return;
    };
    match input.error_status {
        None => {
            let answer_tool = input.flag.then_some("json_object");
            check_result(&fuzzing::response(input.body, answer_tool, &account()));
        }
        Some(status) => {
            let error = fuzzing::error(status, &input.headers, input.body, &account());
            assert_eq!(error.status(), Some(status));
            check_error(&error);
        }
    }
});
