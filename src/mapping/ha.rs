//! Whether a container is registered with Proxmox's HA stack: the annotation
//! `org.proxmox.lxcri/ha`, else the configuration's `cluster.ha`. The annotation's value is
//! the HA group (pve-ha-manager's `pve-ha-group-id`, a `pve-configid`), empty or `true` for
//! HA without a group, `false` for no HA.

use std::collections::BTreeMap;

use super::{invalid, MapError};
use crate::config::ClusterConfig;

pub const HA_ANNOTATION: &str = "org.proxmox.lxcri/ha";

/// HA for one container: the group to put its resource in, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaRequest {
    pub group: Option<String>,
}

/// The container's HA request from its annotations and the configuration's default.
pub fn ha_request(
    annotations: &BTreeMap<String, String>,
    cfg: &ClusterConfig,
) -> Result<Option<HaRequest>, MapError> {
    let group = |g: &str| (!g.is_empty()).then(|| g.to_string());
    let Some(v) = annotations.get(HA_ANNOTATION) else {
        return Ok(cfg.ha.then(|| HaRequest {
            group: group(&cfg.ha_group),
        }));
    };
    match v.as_str() {
        "false" => Ok(None),
        "" | "true" => Ok(Some(HaRequest { group: None })),
        g if config_id(g) => Ok(Some(HaRequest { group: group(g) })),
        _ => Err(invalid(
            format!("annotations[\"{HA_ANNOTATION}\"]"),
            "an HA group name ([a-z][a-z0-9_-]+), true, false or empty",
        )),
    }
}

/// pve-common src/PVE/JSONSchema.pm `parse_config_id`: `^[a-z][a-z0-9_-]+$`, any case.
fn config_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(v: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(HA_ANNOTATION.to_string(), v.to_string())])
    }

    #[test]
    fn the_annotation_decides_else_the_config() {
        let off = ClusterConfig::default();
        let on = ClusterConfig {
            ha: true,
            ha_group: "prod".into(),
            ..Default::default()
        };
        let none = BTreeMap::new();
        assert_eq!(ha_request(&none, &off).unwrap(), None);
        let prod = Some(HaRequest {
            group: Some("prod".into()),
        });
        assert_eq!(ha_request(&none, &on).unwrap(), prod);
        assert_eq!(ha_request(&ann("false"), &on).unwrap(), None);
        let bare = Some(HaRequest { group: None });
        assert_eq!(ha_request(&ann(""), &off).unwrap(), bare);
        assert_eq!(ha_request(&ann("true"), &off).unwrap(), bare);
        assert_eq!(ha_request(&ann("prod"), &off).unwrap(), prod);
    }

    #[test]
    fn a_bad_group_names_the_annotation() {
        for bad in ["1abc", "a", "a b", "a:b", "x\ny"] {
            let e = ha_request(&ann(bad), &ClusterConfig::default()).unwrap_err();
            assert_eq!(
                e.to_string(),
                "config.json: annotations[\"org.proxmox.lxcri/ha\"]: an HA group name ([a-z][a-z0-9_-]+), true, false or empty",
                "{bad:?}"
            );
        }
    }
}
