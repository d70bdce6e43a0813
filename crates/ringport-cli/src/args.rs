//! Argument parsers more than one subcommand uses.

/// A number of event-loop threads for `--threads`: 1 to `max`. `zero` is the message for 0,
/// which each subcommand words for what it does.
pub fn loop_count(s: &str, max: usize, zero: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err(zero.to_string()),
        Ok(n) if n > max => Err(format!("{n} loops is too many (at most {max})")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{s:?} is not a number of threads")),
    }
}

#[cfg(test)]
mod tests {
    use super::loop_count;

    #[test]
    fn loop_counts_are_bounded_and_errors_say_why() {
        assert_eq!(loop_count(" 3 ", 64, "none"), Ok(3));
        assert_eq!(loop_count("64", 64, "none"), Ok(64));
        assert_eq!(loop_count("0", 64, "none"), Err("none".to_string()));
        assert_eq!(
            loop_count("65", 64, "none"),
            Err("65 loops is too many (at most 64)".to_string())
        );
        assert_eq!(
            loop_count("two", 64, "none"),
            Err("\"two\" is not a number of threads".to_string())
        );
    }
}
