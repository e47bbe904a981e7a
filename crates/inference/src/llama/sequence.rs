//! One sequence's output: token bytes become text (whole UTF-8 characters only), stop strings
//! are cut out, and the result is cut into chunks, the last one carrying the finish reason.

use neuronet_synapse::proto::{FinishReason, TextGenerationChunk};

use super::stop::{Filtered, StopFilter};
use super::utf8::Utf8Decoder;

/// What a sampled token leads to.
#[derive(Debug, PartialEq)]
pub(crate) enum Step {
    /// Generation goes on; a chunk to send when there is text to send.
    Continue(Option<TextGenerationChunk>),
    /// Generation is over: the last chunk, with its finish reason.
    Finished(TextGenerationChunk),
}

/// The output side of a sequence.
#[derive(Debug)]
pub(crate) struct Sequence {
    max_tokens: u32,
    generated: u32,
    /// Tokens generated since the last chunk was sent (their text may have been held back).
    unsent_tokens: u32,
    decoder: Utf8Decoder,
    stops: StopFilter,
}

impl Sequence {
    /// A sequence that generates at most `max_tokens` (at least one) and stops at `stops`.
    pub(crate) fn new(max_tokens: u32, stops: &[String]) -> Self {
        Self {
            max_tokens: max_tokens.max(1),
            generated: 0,
            unsent_tokens: 0,
            decoder: Utf8Decoder::default(),
            stops: StopFilter::new(stops),
        }
    }

    /// Takes the bytes of a generated (non end-of-sequence) token.
    pub(crate) fn push(&mut self, piece: &[u8]) -> Step {
        self.generated += 1;
        self.unsent_tokens += 1;
        let text = self.decoder.push(piece);
        match self.stops.push(&text) {
            Filtered::Stopped(before) => Step::Finished(self.chunk(before, FinishReason::Stop)),
            Filtered::Continue(text) if self.generated >= self.max_tokens => self.finish(text, FinishReason::Length),
            Filtered::Continue(text) if text.is_empty() => Step::Continue(None),
            Filtered::Continue(text) => Step::Continue(Some(self.chunk(text, FinishReason::Unspecified))),
        }
    }

    /// The model produced its end-of-sequence token.
    pub(crate) fn end_of_sequence(&mut self) -> Step {
        self.finish(String::new(), FinishReason::Stop)
    }

    /// Releases everything held back (unless it completes a stop string) as the last chunk.
    fn finish(&mut self, mut text: String, reason: FinishReason) -> Step {
        match self.stops.push(&self.decoder.finish()) {
            Filtered::Stopped(before) => {
                text.push_str(&before);
                return Step::Finished(self.chunk(text, FinishReason::Stop));
            }
            Filtered::Continue(released) => text.push_str(&released),
        }
        text.push_str(&self.stops.finish());
        Step::Finished(self.chunk(text, reason))
    }

    fn chunk(&mut self, text: String, reason: FinishReason) -> TextGenerationChunk {
        let tokens = std::mem::take(&mut self.unsent_tokens);
        TextGenerationChunk { text, tokens, finish_reason: reason as i32 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(steps: &[Step]) -> String {
        steps
            .iter()
            .map(|step| match step {
                Step::Continue(Some(chunk)) | Step::Finished(chunk) => chunk.text.as_str(),
                Step::Continue(None) => "",
            })
            .collect()
    }

    #[test]
    fn max_tokens_ends_with_length_and_counts_every_token() {
        let mut sequence = Sequence::new(3, &[]);
        let steps: Vec<Step> = [b"a".as_slice(), b"b", b"c"].iter().map(|piece| sequence.push(piece)).collect();
        assert_eq!(texts(&steps), "abc");
        let Step::Finished(last) = &steps[2] else { panic!("not finished: {steps:?}") };
        assert_eq!((last.tokens, last.finish_reason), (1, FinishReason::Length as i32));
    }

    #[test]
    fn a_stop_string_ends_with_stop_and_is_not_sent() {
        let mut sequence = Sequence::new(10, &["END".to_string()]);
        let steps: Vec<Step> = [b"one E".as_slice(), b"N", b"D two"].iter().map(|piece| sequence.push(piece)).collect();
        assert_eq!(texts(&steps), "one ");
        let Step::Finished(last) = &steps[2] else { panic!("not finished: {steps:?}") };
        assert_eq!((last.tokens, last.finish_reason), (2, FinishReason::Stop as i32));
    }

    #[test]
    fn end_of_sequence_releases_held_text() {
        let mut sequence = Sequence::new(10, &["ab".to_string()]);
        assert_eq!(
            sequence.push(b"xa"),
            Step::Continue(Some(TextGenerationChunk { text: "x".into(), tokens: 1, finish_reason: 0 }))
        );
        let Step::Finished(last) = sequence.end_of_sequence() else { panic!("not finished") };
        assert_eq!((last.text.as_str(), last.tokens, last.finish_reason), ("a", 0, FinishReason::Stop as i32));
    }
}
