//! The event-stream parser: no panic on any input, and the events do not depend on how
//! the bytes were chunked (whole, or split at a point the input picks).
#![no_main]

use libfuzzer_sys::fuzz_target;
use routewise::provider::sse::SseParser;

fn parse(pieces: &[&[u8]]) -> (Vec<routewise::provider::sse::SseEvent>, bool, bool) {
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    let ok = pieces
        .iter()
        .all(|piece| parser.push(piece, &mut events).is_ok());
    (events, ok, parser.has_partial_event())
}

fuzz_target!(|data: &[u8]| {
    let Some((split, body)) = data.split_first() else {
        return;
    };
    let at = usize::from(*split).min(body.len());
    let whole = parse(&[body]);
    let (head, tail) = body.split_at(at);
    let split = parse(&[head, tail]);
    if whole.1 && split.1 {
        assert_eq!(whole, split, "chunking changed the events");
    } else {
        // Invalid UTF-8 is refused whatever the chunking, and events before it agree.
        assert_eq!(whole.1, split.1);
    }
});
