//! Incremental UTF-8 decoding of token bytes: a token may end in the middle of a character (byte
//! fallback tokens split emoji and CJK), so bytes are held until the character is complete.

/// Turns a stream of byte pieces into text, holding back an incomplete trailing character.
#[derive(Debug, Default)]
pub(crate) struct Utf8Decoder {
    pending: Vec<u8>,
}

impl Utf8Decoder {
    /// Appends `bytes` and returns the text completed so far; invalid bytes become U+FFFD.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut text = String::new();
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(valid) => {
                    text.push_str(valid);
                    rest = &[];
                    break;
                }
                Err(error) => {
                    let (valid, after) = rest.split_at(error.valid_up_to());
                    // The prefix was just checked, so this cannot fail; stay panic-free anyway.
                    text.push_str(std::str::from_utf8(valid).unwrap_or_default());
                    match error.error_len() {
                        // An incomplete character at the end: wait for the next piece.
                        None => {
                            rest = after;
                            break;
                        }
                        Some(invalid) => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            rest = after.get(invalid..).unwrap_or_default();
                        }
                    }
                }
            }
        }
        self.pending = rest.to_vec();
        text
    }

    /// Ends the stream: an incomplete trailing character becomes U+FFFD.
    pub(crate) fn finish(&mut self) -> String {
        if self.pending.is_empty() {
            String::new()
        } else {
            self.pending.clear();
            char::REPLACEMENT_CHARACTER.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_split_across_tokens_comes_out_whole() {
        let snake = "🐍".as_bytes();
        let mut decoder = Utf8Decoder::default();
        assert_eq!(decoder.push(b"a"), "a");
        assert_eq!(decoder.push(&snake[..1]), "");
        assert_eq!(decoder.push(&snake[1..3]), "");
        assert_eq!(decoder.push(&[snake[3], b'b']), "🐍b");
        assert_eq!(decoder.finish(), "");
    }

    #[test]
    fn invalid_and_truncated_bytes_become_replacement_characters() {
        let mut decoder = Utf8Decoder::default();
        assert_eq!(decoder.push(&[b'x', 0xff, b'y']), "x\u{fffd}y");
        assert_eq!(decoder.push(&[0xe2, 0x82]), "");
        assert_eq!(decoder.finish(), "\u{fffd}");
    }
}
