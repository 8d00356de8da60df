//! "Did you mean …?" for typos in keys, step kinds and metric names.

/// The candidate closest to `typed`, if it is close enough to be a likely typo.
pub fn nearest<'a>(typed: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(typed, c), *c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_typo() {
        assert_eq!(
            super::nearest("clinets", &["name", "clients", "ramp"]),
            Some("clients")
        );
        assert_eq!(super::nearest("zzz", &["name", "clients"]), None);
    }
}
