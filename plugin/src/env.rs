//! The `CNI_*` environment: read once, validated per command. Every failure is code 4 and names
//! the variable and its value.

use std::ffi::OsString;

use cni_types::names::{is_valid_identifier, validate_ifname, validate_new_ifname};

use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Add,
    Del,
    Check,
    Version,
    Status,
    Gc,
}

impl Command {
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Add => "ADD",
            Command::Del => "DEL",
            Command::Check => "CHECK",
            Command::Version => "VERSION",
            Command::Status => "STATUS",
            Command::Gc => "GC",
        }
    }

    const ALL: [Command; 6] = [
        Command::Add,
        Command::Del,
        Command::Check,
        Command::Version,
        Command::Status,
        Command::Gc,
    ];
}

/// The variables as the process received them.
#[derive(Debug, Clone, Default)]
pub struct RawEnv {
    pub command: Option<OsString>,
    pub container_id: Option<OsString>,
    pub netns: Option<OsString>,
    pub ifname: Option<OsString>,
    pub path: Option<OsString>,
}

/// The parameters of an ADD, DEL or CHECK, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub container_id: String,
    pub ifname: String,
    /// `None` only on DEL, where `CNI_NETNS` is optional.
    pub netns: Option<String>,
}

impl RawEnv {
    pub fn from_process() -> RawEnv {
        RawEnv {
            command: std::env::var_os("CNI_COMMAND"),
            container_id: std::env::var_os("CNI_CONTAINERID"),
            netns: std::env::var_os("CNI_NETNS"),
            ifname: std::env::var_os("CNI_IFNAME"),
            path: std::env::var_os("CNI_PATH"),
        }
    }

    pub fn command(&self) -> Result<Command, Error> {
        let value = required("CNI_COMMAND", &self.command)?;
        Command::ALL
            .into_iter()
            .find(|c| c.as_str() == value)
            .ok_or_else(|| Error::Env {
                variable: "CNI_COMMAND",
                problem: format!("{value:?} is not one of ADD, DEL, CHECK, VERSION, STATUS, GC"),
            })
    }

    /// For ADD, DEL and CHECK.
    pub fn attachment(&self, command: Command) -> Result<Attachment, Error> {
        let container_id = required("CNI_CONTAINERID", &self.container_id)?;
        if !is_valid_identifier(&container_id) {
            return Err(Error::Env {
                variable: "CNI_CONTAINERID",
                problem: format!(
                    "{container_id:?} is invalid: it must start with a letter or digit, followed \
                     by letters, digits, '_', '.' or '-'"
                ),
            });
        }
        let ifname = required("CNI_IFNAME", &self.ifname)?;
        // ADD creates a link under this name (or, chained, under `<CNI_IFNAME>.<vlanId>`), so
        // the kernel must keep it exactly; CHECK judges such a link. DEL only needs libcni's
        // rules: no link can carry a name the kernel rewrites, and an IPAM reservation an
        // older plugin made under it must still be released.
        let rules = match command {
            Command::Del => validate_ifname,
            _ => validate_new_ifname,
        };
        rules(&ifname).map_err(|e| Error::Env {
            variable: "CNI_IFNAME",
            problem: format!("is invalid: {e}"),
        })?;
        let netns = match command {
            Command::Del => optional("CNI_NETNS", &self.netns)?,
            _ => Some(required("CNI_NETNS", &self.netns)?),
        };
        Ok(Attachment {
            container_id,
            ifname,
            netns,
        })
    }

    /// `CNI_PATH` as given, if set and valid; needed only to run an IPAM plugin.
    pub fn cni_path(&self) -> Result<Option<String>, Error> {
        optional("CNI_PATH", &self.path)
    }
}

fn optional(variable: &'static str, value: &Option<OsString>) -> Result<Option<String>, Error> {
    match value {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.to_string()))
            .ok_or_else(|| Error::Env {
                variable,
                problem: format!("{v:?} is not valid UTF-8"),
            }),
    }
}

fn required(variable: &'static str, value: &Option<OsString>) -> Result<String, Error> {
    optional(variable, value)?.ok_or_else(|| Error::Env {
        variable,
        problem: "is missing or empty".into(),
    })
}

#[cfg(test)]
mod tests {
    use cni_types::error::codes::INVALID_ENVIRONMENT;
    use rstest::rstest;

    use super::*;

    fn env(command: &str, container_id: &str, netns: &str, ifname: &str) -> RawEnv {
        let set = |v: &str| (!v.is_empty()).then(|| OsString::from(v));
        RawEnv {
            command: set(command),
            container_id: set(container_id),
            netns: set(netns),
            ifname: set(ifname),
            path: None,
        }
    }

    #[rstest]
    #[case::add("ADD", Command::Add)]
    #[case::gc("GC", Command::Gc)]
    #[case::status("STATUS", Command::Status)]
    fn known_commands_parse(#[case] value: &str, #[case] expected: Command) {
        assert_eq!(env(value, "", "", "").command().unwrap(), expected);
    }

    #[rstest]
    #[case::missing("", "CNI_COMMAND is missing or empty")]
    #[case::lowercase("add", "CNI_COMMAND \"add\" is not one of ADD, DEL")]
    #[case::unknown("FOO", "CNI_COMMAND \"FOO\" is not one of")]
    fn bad_commands_are_code_4_naming_the_value(#[case] value: &str, #[case] message: &str) {
        let error = env(value, "", "", "").command().unwrap_err();
        assert_eq!(error.code(), INVALID_ENVIRONMENT);
        assert!(error.to_string().starts_with(message), "{error}");
    }

    #[rstest]
    #[case::no_container_id("", "/run/netns/x", "eth0", "CNI_CONTAINERID is missing")]
    #[case::bad_container_id("-x", "/run/netns/x", "eth0", "CNI_CONTAINERID \"-x\" is invalid")]
    #[case::no_ifname("c1", "/run/netns/x", "", "CNI_IFNAME is missing")]
    #[case::long_ifname(
        "c1",
        "/run/netns/x",
        "a234567890123456",
        "CNI_IFNAME is invalid: interface name \"a234567890123456\" is 16 bytes"
    )]
    #[case::dot_ifname(
        "c1",
        "/run/netns/x",
        "..",
        "CNI_IFNAME is invalid: interface name \"..\" is . or .."
    )]
    #[case::slash_ifname("c1", "/run/netns/x", "a/b", "CNI_IFNAME is invalid")]
    #[case::colon_ifname("c1", "/run/netns/x", "a:b", "CNI_IFNAME is invalid")]
    #[case::space_ifname("c1", "/run/netns/x", "a b", "CNI_IFNAME is invalid")]
    #[case::template_ifname(
        "c1",
        "/run/netns/x",
        "%d",
        "CNI_IFNAME is invalid: interface name \"%d\" contains %, which the kernel takes as a name template"
    )]
    #[case::other_percent_ifname("c1", "/run/netns/x", "a%", "CNI_IFNAME is invalid")]
    #[case::kernel_space_ifname("c1", "/run/netns/x", "ethà", "CNI_IFNAME is invalid")]
    #[case::reserved_ifname(
        "c1",
        "/run/netns/x",
        "all",
        "CNI_IFNAME is invalid: interface name \"all\" is reserved"
    )]
    #[case::no_netns_on_add("c1", "", "eth0", "CNI_NETNS is missing")]
    fn add_rejects_bad_variables(
        #[case] container_id: &str,
        #[case] netns: &str,
        #[case] ifname: &str,
        #[case] message: &str,
    ) {
        let error = env("ADD", container_id, netns, ifname)
            .attachment(Command::Add)
            .unwrap_err();
        assert_eq!(error.code(), INVALID_ENVIRONMENT);
        assert!(error.to_string().starts_with(message), "{error}");
    }

    #[test]
    fn del_accepts_a_missing_netns() {
        let attachment = env("DEL", "c1", "", "eth0")
            .attachment(Command::Del)
            .unwrap();
        assert_eq!(
            attachment,
            Attachment {
                container_id: "c1".into(),
                ifname: "eth0".into(),
                netns: None
            }
        );
    }

    #[test]
    fn check_rejects_names_the_kernel_rewrites_and_del_accepts_them() {
        for ifname in ["%d", "eth%d", "default"] {
            let error = env("CHECK", "c1", "/x", ifname)
                .attachment(Command::Check)
                .unwrap_err();
            assert_eq!(error.code(), INVALID_ENVIRONMENT);
            let attachment = env("DEL", "c1", "/x", ifname)
                .attachment(Command::Del)
                .unwrap();
            assert_eq!(attachment.ifname, ifname);
        }
    }

    #[test]
    fn non_utf8_values_are_rejected() {
        use std::os::unix::ffi::OsStringExt;
        let mut raw = env("ADD", "c1", "/x", "eth0");
        raw.ifname = Some(OsString::from_vec(vec![0xff, 0xfe]));
        let error = raw.attachment(Command::Add).unwrap_err();
        assert_eq!(error.code(), INVALID_ENVIRONMENT);
        assert!(error.to_string().contains("not valid UTF-8"), "{error}");
    }
}
