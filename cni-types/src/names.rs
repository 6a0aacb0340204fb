//! Name rules the spec and libcni apply to network names, container ids and interface names,
//! and the stricter rule for a name a plugin gives a new link: the kernel must keep it exactly.

/// Linux's IFNAMSIZ is 16 including the terminating NUL.
pub const MAX_IFNAME_LEN: usize = 15;

/// Names that pass libcni's check but that the kernel refuses for a link (EINVAL on create and
/// on rename, measured on Linux 6.1): they are the names of the per-namespace sysctl folders
/// `net/ipv{4,6}/conf/{all,default}`, beside which each link gets a folder of its own name.
pub const RESERVED_IFNAMES: [&str; 2] = ["all", "default"];

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
    #[error(
        "interface name {0:?} contains %, which the kernel takes as a name template (\"%d\" \
         becomes the first free number, e.g. \"0\"; any other % is refused)"
    )]
    Template(String),
    #[error(
        "interface name {0:?} contains the byte 0xA0, which the kernel counts as white space \
         (here part of a UTF-8 character) and refuses"
    )]
    KernelWhiteSpace(String),
    #[error(
        "interface name {0:?} is reserved: the kernel refuses it, as net/ipv4/conf/{0} and \
         net/ipv6/conf/{0} are the settings of every link"
    )]
    Reserved(String),
}

/// Checks a Linux interface name the way libcni's `ValidateInterfaceName` does (what a runtime
/// checks before it calls a plugin).
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

/// Checks a name for a link about to be created or renamed: libcni's rules, and whatever else
/// would make the kernel refuse it or name the link differently (`dev_valid_name`,
/// `dev_get_valid_name` in net/core/dev.c): a `%` (`dev_alloc_name`'s template: `%d` becomes
/// the first free number, any other `%` is EINVAL), the byte 0xA0 (the kernel's `isspace` is
/// Latin-1: EINVAL), and [`RESERVED_IFNAMES`] (EINVAL).
pub fn validate_new_ifname(name: &str) -> Result<(), IfNameError> {
    validate_ifname(name)?;
    if name.contains('%') {
        return Err(IfNameError::Template(name.to_string()));
    }
    if name.bytes().any(|b| b == 0xA0) {
        return Err(IfNameError::KernelWhiteSpace(name.to_string()));
    }
    if RESERVED_IFNAMES.contains(&name) {
        return Err(IfNameError::Reserved(name.to_string()));
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
    fn libcni_accepts_what_the_kernel_would_rewrite() {
        for name in ["%d", "eth%d", "a%", "all", "default", "ethà"] {
            assert_eq!(validate_ifname(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn new_link_names_are_kept_by_the_kernel_exactly() {
        for name in [
            "eth0",
            "eth0.4094",
            "a23456789012345",
            "é1",
            "All",
            "alle",
            "defaults",
        ] {
            assert_eq!(validate_new_ifname(name), Ok(()), "{name}");
        }
        for name in ["%d", "%s", "a%", "eth%d", "%", "%d%d"] {
            assert_eq!(
                validate_new_ifname(name),
                Err(IfNameError::Template(name.into()))
            );
        }
        // U+00E0 is C3 A0 in UTF-8, U+0120 is C4 A0.
        for name in ["ethà", "Ġ"] {
            assert_eq!(
                validate_new_ifname(name),
                Err(IfNameError::KernelWhiteSpace(name.into()))
            );
        }
        for name in ["all", "default"] {
            assert_eq!(
                validate_new_ifname(name),
                Err(IfNameError::Reserved(name.into()))
            );
        }
        // libcni's own rules come first.
        assert_eq!(validate_new_ifname(""), Err(IfNameError::Empty));
        assert!(matches!(
            validate_new_ifname("a/%"),
            Err(IfNameError::BadCharacter(_))
        ));
    }

    #[test]
    fn identifier_rules() {
        assert!(is_valid_identifier("net-1_a.b"));
        assert!(!is_valid_identifier(""));
        assert!(!is_valid_identifier("-net"));
        assert!(!is_valid_identifier("net/1"));
    }
}
