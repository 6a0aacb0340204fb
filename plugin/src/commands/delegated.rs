//! STATUS and GC (1.1.0): the plugin keeps no state of its own outside the pod's namespace, so
//! both are the IPAM delegate's answer when there is one, and success otherwise. GC's stdin
//! reaches the delegate unchanged, `cni.dev/valid-attachments` included.

use crate::env::Command;
use crate::error::Error;
use crate::ipam::Delegate;

pub fn forward(command: Command, ipam: Option<&Delegate>, stdin: &[u8]) -> Result<(), Error> {
    match ipam {
        Some(ipam) => ipam.run(command, stdin),
        None => Ok(()),
    }
}
