//! Counted words in messages: "1 cell", "2 cells", "1 cell differs".

/// `1 cell`, `0 cells`, `113 cells` (for words whose plural adds an s).
pub(crate) fn count(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// The verb that agrees with a count: `1 cell differs`, `2 cells differ`.
pub(crate) fn agree(n: usize, singular: &'static str, plural: &'static str) -> &'static str {
    if n == 1 { singular } else { plural }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_singular_and_every_other_count_is_plural() {
        assert_eq!(count(1, "cell"), "1 cell");
        assert_eq!(count(0, "cell"), "0 cells");
        assert_eq!(count(113, "cell"), "113 cells");
        assert_eq!(
            format!("{} {}", count(1, "cell"), agree(1, "differs", "differ")),
            "1 cell differs"
        );
        assert_eq!(agree(3, "differs", "differ"), "differ");
    }
}
