//! Names the configuration speaks: vendor ids. The `feeds.toml` schema itself arrives with the
//! sources issue; this module holds the vocabulary `format/` matches on.

use std::fmt;
use std::str::FromStr;

/// A list output format, by vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Vendor {
    /// Palo Alto Networks PAN-OS external dynamic list.
    Panos,
    /// Fortinet FortiGate threat feed.
    Fortigate,
    /// Check Point IoC feed, CSV in Check Point format.
    Checkpoint,
    /// Check Point Network Feed object, flat list.
    CheckpointFeed,
    /// Sophos Firewall third-party threat feed.
    Sophos,
    /// Cisco Secure Firewall Threat Intelligence Director flat file.
    CiscoTid,
    /// Cisco Secure Firewall Security Intelligence feed.
    CiscoSi,
    /// Broadcom (Symantec) ProxySG / Edge SWG local category.
    Proxysg,
    /// One normalized value per line.
    Plain,
}

impl Vendor {
    /// Every vendor, in help order.
    pub const ALL: [Vendor; 9] = [
        Vendor::Panos,
        Vendor::Fortigate,
        Vendor::Checkpoint,
        Vendor::CheckpointFeed,
        Vendor::Sophos,
        Vendor::CiscoTid,
        Vendor::CiscoSi,
        Vendor::Proxysg,
        Vendor::Plain,
    ];

    /// The id used in config and on the command line.
    pub fn id(self) -> &'static str {
        match self {
            Vendor::Panos => "panos",
            Vendor::Fortigate => "fortigate",
            Vendor::Checkpoint => "checkpoint",
            Vendor::CheckpointFeed => "checkpoint-feed",
            Vendor::Sophos => "sophos",
            Vendor::CiscoTid => "cisco-tid",
            Vendor::CiscoSi => "cisco-si",
            Vendor::Proxysg => "proxysg",
            Vendor::Plain => "plain",
        }
    }
}

impl fmt::Display for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// An unknown vendor id, with the closest known one when there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown vendor {given:?}; expected one of: {}{}", Vendor::ALL.map(|v| v.id()).join(", "), hint.map(|h| format!(" (did you mean {h:?}?)")).unwrap_or_default())]
pub struct UnknownVendor {
    /// What was given.
    pub given: String,
    /// The closest id.
    pub hint: Option<&'static str>,
}

impl FromStr for Vendor {
    type Err = UnknownVendor;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        if let Some(v) = Vendor::ALL.into_iter().find(|v| v.id() == lower) {
            return Ok(v);
        }
        let alias = match lower.as_str() {
            "paloalto" | "palo-alto" | "pan-os" | "pan" => Some("panos"),
            "fortinet" | "fortios" => Some("fortigate"),
            "check-point" | "cp" => Some("checkpoint"),
            "cisco" | "fmc" => Some("cisco-si"),
            "bluecoat" | "symantec" | "broadcom" => Some("proxysg"),
            "text" | "txt" => Some("plain"),
            _ => Vendor::ALL
                .into_iter()
                .map(|v| v.id())
                .find(|id| id.starts_with(&lower) || lower.starts_with(id)),
        };
        Err(UnknownVendor {
            given: s.to_string(),
            hint: alias,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for v in Vendor::ALL {
            assert_eq!(v.id().parse::<Vendor>(), Ok(v));
        }
    }

    #[test]
    fn unknown_vendor_hints() {
        let e = "paloalto".parse::<Vendor>().unwrap_err();
        assert_eq!(e.hint, Some("panos"));
        assert!(e.to_string().contains("did you mean \"panos\""), "{e}");
    }
}
