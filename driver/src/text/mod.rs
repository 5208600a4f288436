//! The driver's answers as text for a terminal: the tables and summaries `bench` prints.
//!
//! Each writer takes any [`std::io::Write`], so a closed pipe (`bench rank … | head`) is an
//! error the binary ends on quietly, and tests read what a user sees without a process.
//! The binary picks the stream (stdout for answers, stderr for what happened) and the exit code.

pub mod build;
pub mod compare;
pub mod estimate;
pub mod export;
pub mod hosts;
pub mod load;
pub mod plan;
pub mod results;
pub mod tables;

/// `12345` → `12,345`.
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The first 12 characters of a key, as the CLI shows keys.
pub fn short(key: &str) -> &str {
    &key[..12.min(key.len())]
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
