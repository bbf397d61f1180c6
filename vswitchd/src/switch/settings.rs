//! Switch-wide settings: `vswitch-ctl set-config KEY=VALUE...` and `get-config`, the
//! counterpart of OVS's `other_config` column (`ovs-vsctl set Open_vSwitch .
//! other_config:flow-limit=N`).
//!
//! A setting is a string in the store (`settings` table) and a typed field here. Every known
//! key has a default; a key that is not stored has its default, and setting an empty value
//! removes the stored one (back to the default). A request is validated whole before anything
//! is committed, so a bad value changes nothing, and values are stored in canonical form.
//! Start-up reads the same values through [`Settings::from_stored`], so a database edited by
//! an older or newer daemon is refused with the same message an RPC would get.
//!
//! Keys:
//! - `flow-limit`: the most megaflows the datapath keeps (default [`DEFAULT_FLOW_LIMIT`],
//!   1 to [`MAX_FLOW_LIMIT`]). Lowering it evicts the least recently used megaflows at once.

use std::collections::BTreeMap;

use super::{Switch, SwitchError};
use crate::store::Change;

/// Default megaflow limit (`flow-limit` setting), as OVS's.
pub const DEFAULT_FLOW_LIMIT: u64 = 200_000;
/// Largest `flow-limit` accepted: a megaflow costs under 1 KB, so the datapath's cache stays
/// under about 2 GB whatever a client asks.
pub const MAX_FLOW_LIMIT: u64 = 2_000_000;

/// Every key [`Settings`] knows, in the order `get-config` lists them.
pub const KEYS: [&str; 1] = ["flow-limit"];

/// Switch-wide settings, as in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Maximum number of megaflows.
    pub flow_limit: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            flow_limit: DEFAULT_FLOW_LIMIT,
        }
    }
}

impl Settings {
    /// The settings a database holds (unknown keys are refused: they would be ignored
    /// silently otherwise).
    pub fn from_stored(stored: &BTreeMap<String, String>) -> Result<Settings, SwitchError> {
        let mut s = Settings::default();
        for (key, value) in stored {
            s.set(key, value)
                .map_err(|e| SwitchError::Invalid(format!("stored setting: {e}")))?;
        }
        Ok(s)
    }

    /// Sets `key` to `value` (empty: the default) and returns the canonical value to store
    /// (`None`: remove the stored value).
    fn set(&mut self, key: &str, value: &str) -> Result<Option<String>, SwitchError> {
        match key {
            "flow-limit" => {
                if value.is_empty() {
                    self.flow_limit = DEFAULT_FLOW_LIMIT;
                    return Ok(None);
                }
                let n: u64 = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_FLOW_LIMIT).contains(n))
                    .ok_or_else(|| {
                        SwitchError::Invalid(format!(
                            "flow-limit='{value}' is not a number from 1 to {MAX_FLOW_LIMIT}"
                        ))
                    })?;
                self.flow_limit = n;
                Ok(Some(n.to_string()))
            }
            "fail-mode" | "fail_mode" => Err(SwitchError::Invalid(format!(
                "fail-mode is set per bridge: use 'vswitch-ctl set-fail-mode BRIDGE {}'",
                match value {
                    "standalone" | "secure" => value,
                    _ => "standalone|secure",
                }
            ))),
            _ => Err(SwitchError::Invalid(format!(
                "unknown setting '{key}' (known: {})",
                KEYS.join(", ")
            ))),
        }
    }

    /// The value of a known key.
    pub fn get(&self, key: &str) -> Option<String> {
        match key {
            "flow-limit" => Some(self.flow_limit.to_string()),
            _ => None,
        }
    }

    /// Every known key with its value in force.
    pub fn entries(&self) -> Vec<(String, String)> {
        KEYS.iter()
            .filter_map(|k| Some(((*k).to_owned(), self.get(k)?)))
            .collect()
    }
}

impl Switch {
    /// Switch-wide settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Applies `KEY=VALUE` settings in order, all or none: validated, committed durably, then
    /// put in force (a lower `flow-limit` evicts megaflows before this returns).
    pub fn set_settings(
        &mut self,
        settings: &[(String, String)],
    ) -> Result<&Settings, SwitchError> {
        let mut next = self.settings.clone();
        let mut changes = Vec::with_capacity(settings.len());
        for (key, value) in settings {
            changes.push(match next.set(key, value)? {
                Some(value) => Change::SetSetting {
                    key: key.clone(),
                    value,
                },
                None => Change::DeleteSetting { key: key.clone() },
            });
        }
        self.store.commit(&changes)?;
        self.settings = next;
        self.apply_settings();
        Ok(&self.settings)
    }

    /// Puts the settings in force in the dataplane.
    pub(super) fn apply_settings(&self) {
        let limit = usize::try_from(self.settings.flow_limit).unwrap_or(usize::MAX);
        let evicted = self.dp.datapath().set_flow_limit(limit);
        if evicted > 0 {
            tracing::info!(
                flow_limit = limit,
                evicted,
                "flow-limit lowered: megaflows evicted"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_when_nothing_is_stored() {
        let s = Settings::from_stored(&BTreeMap::new()).unwrap();
        assert_eq!(s, Settings::default());
        assert_eq!(
            s.entries(),
            vec![("flow-limit".to_owned(), "200000".to_owned())]
        );
    }

    #[test]
    fn values_are_checked_and_stored_canonically() {
        let mut s = Settings::default();
        assert_eq!(s.set("flow-limit", "0100").unwrap(), Some("100".to_owned()));
        assert_eq!(s.flow_limit, 100);
        assert_eq!(s.set("flow-limit", "").unwrap(), None);
        assert_eq!(s.flow_limit, DEFAULT_FLOW_LIMIT);
        for bad in ["0", "-1", "x", "2000001", "1e6", " 5"] {
            let e = s.set("flow-limit", bad).unwrap_err().to_string();
            assert!(e.contains(&format!("flow-limit='{bad}'")), "{e}");
        }
        let e = s.set("fail-mode", "secure").unwrap_err().to_string();
        assert_eq!(
            e,
            "fail-mode is set per bridge: use 'vswitch-ctl set-fail-mode BRIDGE secure'"
        );
        let e = s.set("flow_limit", "5").unwrap_err().to_string();
        assert_eq!(e, "unknown setting 'flow_limit' (known: flow-limit)");
    }

    #[test]
    fn a_bad_stored_value_is_refused_at_load() {
        let e = Settings::from_stored(&stored(&[("flow-limit", "lots")]))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("stored setting: flow-limit='lots'"), "{e}");
        let s = Settings::from_stored(&stored(&[("flow-limit", "5000")])).unwrap();
        assert_eq!(s.flow_limit, 5000);
    }
}
