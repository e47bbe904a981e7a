//! Stop strings: generated text is held back while it could still be the start of a stop string,
//! so that a stop string is never sent, not even in part.

/// What the filter lets out after a piece of text.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Filtered {
    /// Text safe to send; generation goes on.
    Continue(String),
    /// A stop string was found: the text before it, and generation ends.
    Stopped(String),
}

/// Holds back generated text that might begin a stop string.
#[derive(Debug)]
pub(crate) struct StopFilter {
    stops: Vec<String>,
    held: String,
}

impl StopFilter {
    /// A filter for `stops` (empty strings are ignored).
    pub(crate) fn new(stops: &[String]) -> Self {
        Self { stops: stops.iter().filter(|stop| !stop.is_empty()).cloned().collect(), held: String::new() }
    }

    /// Adds newly generated text and returns what may be sent now.
    pub(crate) fn push(&mut self, text: &str) -> Filtered {
        self.held.push_str(text);
        let first_stop = self.stops.iter().filter_map(|stop| self.held.find(stop.as_str())).min();
        if let Some(at) = first_stop {
            let before = self.held[..at].to_owned();
            self.held.clear();
            return Filtered::Stopped(before);
        }
        let keep = self.longest_partial_stop();
        let release = self.held.len() - keep;
        let out = self.held[..release].to_owned();
        self.held.drain(..release);
        Filtered::Continue(out)
    }

    /// Ends generation without a stop string: everything held is released.
    pub(crate) fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }

    /// The length of the longest suffix of the held text that is a proper prefix of a stop string
    /// (always at a character boundary, since both are `str`s).
    fn longest_partial_stop(&self) -> usize {
        self.stops
            .iter()
            .flat_map(|stop| {
                stop.char_indices().skip(1).map(|(end, _)| &stop[..end]).filter(|prefix| self.held.ends_with(prefix))
            })
            .map(str::len)
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(stops: &[&str]) -> StopFilter {
        StopFilter::new(&stops.iter().map(|stop| stop.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn a_stop_string_split_across_pieces_is_never_sent() {
        let mut stops = filter(&["\n\n", "END"]);
        assert_eq!(stops.push("one\n"), Filtered::Continue("one".into()));
        assert_eq!(stops.push("two"), Filtered::Continue("\ntwo".into()));
        assert_eq!(stops.push(" E"), Filtered::Continue(" ".into()));
        assert_eq!(stops.push("N"), Filtered::Continue(String::new()));
        assert_eq!(stops.push("Dless"), Filtered::Stopped(String::new()));
    }

    #[test]
    fn held_text_that_does_not_stop_is_released() {
        let mut stops = filter(&["ab"]);
        assert_eq!(stops.push("xa"), Filtered::Continue("x".into()));
        assert_eq!(stops.push("c"), Filtered::Continue("ac".into()));
        assert_eq!(stops.push("a"), Filtered::Continue(String::new()));
        assert_eq!(stops.finish(), "a");
    }

    #[test]
    fn the_earliest_stop_wins_and_multibyte_stops_work() {
        let mut stops = filter(&["é!", "z"]);
        assert_eq!(stops.push("café!z"), Filtered::Stopped("caf".into()));
        let mut none = filter(&[""]);
        assert_eq!(none.push("text"), Filtered::Continue("text".into()));
    }
}
