//! Bytes a client sends to `lm stream --http` → the server's request handling: reading the
//! head (size limit, CRLF or LF, a client that stops half-way), the request line and the
//! route. A route or the status to answer; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lm::stream::http::{read_request, route};

fuzz_target!(|data: &[u8]| {
    let mut client = std::io::Cursor::new(data);
    match read_request(&mut client) {
        Ok(head) => {
            let _ = route(&head);
        }
        Err(status) => assert!(status.is_empty() || status.as_bytes()[0].is_ascii_digit()),
    }
});
