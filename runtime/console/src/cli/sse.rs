//! Reading a stream of server-sent events (the `text/event-stream` format
//! of the HTML standard) as the CLI receives it: bytes in chunks cut
//! anywhere, lines ended by CRLF, LF or CR, `field: value` lines gathered
//! into an event until a blank line, comments (`:keep-alive`) skipped.
//!
//! Only what a client of the console's streams needs: `event`, `data` and
//! `id`; `retry` is ignored (the CLI chooses its own delay).

/// One event of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// Its name (`message` when the stream gave none).
    pub(crate) name: String,
    /// Its data lines, joined by `\n`.
    pub(crate) data: String,
    /// The last event id the stream gave, as of this event (what a
    /// reconnect sends as `Last-Event-ID`).
    pub(crate) id: Option<String>,
}

/// The state between chunks: the unfinished line and event.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    /// Bytes of a line whose end has not come yet.
    line: Vec<u8>,
    /// The previous chunk ended with CR: an LF first in the next one ends
    /// no second line.
    after_cr: bool,
    name: String,
    data: String,
    /// Whether a `data` field came since the last event.
    has_data: bool,
    last_id: Option<String>,
}

impl SseParser {
    /// Reads `chunk` and answers the events it completed.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for &byte in chunk {
            let after_cr = std::mem::take(&mut self.after_cr);
            match byte {
                b'\n' if after_cr => {}
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.line);
                    self.line_ended(&String::from_utf8_lossy(&line), &mut events);
                }
                _ => self.line.push(byte),
            }
        }
        events
    }

    fn line_ended(&mut self, line: &str, events: &mut Vec<SseEvent>) {
        if line.is_empty() {
            let name = std::mem::take(&mut self.name);
            let data = std::mem::take(&mut self.data);
            // An event without data is none (the standard's rule).
            if std::mem::take(&mut self.has_data) {
                events.push(SseEvent {
                    name: if name.is_empty() {
                        "message".into()
                    } else {
                        name
                    },
                    data,
                    id: self.last_id.clone(),
                });
            }
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => value.clone_into(&mut self.name),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            // An id with NUL is ignored (the standard's rule).
            "id" if !value.contains('\0') => self.last_id = Some(value.to_owned()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, data: &str, id: Option<&str>) -> SseEvent {
        SseEvent {
            name: name.into(),
            data: data.into(),
            id: id.map(str::to_owned),
        }
    }

    #[test]
    fn events_cut_anywhere_read_the_same() {
        let text = "event: run\r\nid: r1.0.\r\ndata: {\"a\":1}\r\n\r\n\
                    :keep-alive\n\n\
                    data: one\ndata:two\n\n\
                    event: end\rdata\r\r";
        let expected = vec![
            event("run", "{\"a\":1}", Some("r1.0.")),
            event("message", "one\ntwo", Some("r1.0.")),
            event("end", "", Some("r1.0.")),
        ];
        let mut whole = SseParser::default();
        assert_eq!(whole.push(text.as_bytes()), expected);
        for cut in 0..text.len() {
            let mut parser = SseParser::default();
            let mut events = parser.push(&text.as_bytes()[..cut]);
            events.extend(parser.push(&text.as_bytes()[cut..]));
            assert_eq!(events, expected, "cut at {cut}");
        }
    }

    #[test]
    fn an_event_waits_for_its_blank_line() {
        let mut parser = SseParser::default();
        assert!(parser.push(b"event: step\nid: x\ndata: 1\n").is_empty());
        assert_eq!(parser.push(b"\n"), vec![event("step", "1", Some("x"))]);
        // No data, no event; the id still counts for the next one.
        assert!(parser.push(b"id: y\n\n").is_empty());
        assert_eq!(
            parser.push(b"data: 2\n\n"),
            vec![event("message", "2", Some("y"))]
        );
    }
}
