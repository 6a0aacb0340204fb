//! Name rules the spec and libcni apply to network names, container ids and interface names.

/// Linux's IFNAMSIZ is 16 including the terminating NUL.
pub const MAX_IFNAME_LEN: usize = 15;

/// Why an interface name is unacceptable (each is CNI error code 4 for `CNI_IFNAME`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IfNameError {
    #[error("interface name is empty")]
    Empty,
    #[error("interface name {0:?} is {1} bytes, longer than the kernel's limit of 15")]
    TooLong(String, usize),
    #[error("interface name {0:?} is . or ..")]
    Dot(String),
    #[error("interface name {0:?} contains / or : or white space")]
    BadCharacter(String),
}

/// Checks a Linux interface name the way libcni's `ValidateInterfaceName` does.
pub fn validate_ifname(name: &str) -> Result<(), IfNameError> {
    if name.is_empty() {
        return Err(IfNameError::Empty);
    }
    if name.len() > MAX_IFNAME_LEN {
        return Err(IfNameError::TooLong(name.to_string(), name.len()));
    }
    if name == "." || name == ".." {
        return Err(IfNameError::Dot(name.to_string()));
    }
    if name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace())
    {
        return Err(IfNameError::BadCharacter(name.to_string()));
    }
    Ok(())
}

/// Network names and container ids: `^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$` (libcni `ValidateNetworkName`
/// / `ValidateContainerID`).
pub fn is_valid_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifname_rules() {
        assert_eq!(validate_ifname("eth0.4094"), Ok(()));
        assert_eq!(validate_ifname("a23456789012345"), Ok(()));
        assert_eq!(validate_ifname(""), Err(IfNameError::Empty));
        assert!(matches!(
            validate_ifname("a234567890123456"),
            Err(IfNameError::TooLong(_, 16))
        ));
        assert!(matches!(validate_ifname(".."), Err(IfNameError::Dot(_))));
        for bad in ["a/b", "a:b", "a b", "a\tb"] {
            assert!(matches!(
                validate_ifname(bad),
                Err(IfNameError::BadCharacter(_))
            ));
        }
    }

    #[test]
    fn identifier_rules() {
        assert!(is_valid_identifier("net-1_a.b"));
        assert!(!is_valid_identifier(""));
        assert!(!is_valid_identifier("-net"));
        assert!(!is_valid_identifier("net/1"));
    }
}
