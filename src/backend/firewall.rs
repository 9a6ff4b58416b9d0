//! Writing a CT's Proxmox firewall (docs/network.md "Firewall"), shared by the `api` backend
//! (HTTP) and the `ssh` backend (`pvesh` on the node, which runs the same pve-firewall API
//! handlers: the same checks and locking as the API, rather than writing `<vmid>.fw` into
//! pmxcfs by hand).

use serde_json::Value;

use crate::mapping::firewall::FirewallRequest;
use crate::pve::Vmid;

/// One call: method (`GET`, `POST`, `PUT`), path, form parameters.
pub type Call<'a> = dyn FnMut(&str, &str, &[(String, String)]) -> Result<Value, String> + 'a;

/// The security groups `GET /cluster/firewall/groups` lists, by name.
pub fn group_names(listing: &Value) -> Vec<String> {
    listing
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g["group"].as_str().or(g["name"].as_str()).map(String::from))
        .collect()
}

/// `Err` naming the first of `wanted` that `have` lacks.
pub fn check_groups(annotation: &str, wanted: &[String], have: &[String]) -> Result<(), String> {
    match wanted.iter().find(|g| !have.contains(g)) {
        Some(g) => Err(format!(
            "annotations[\"{annotation}\"]: security group '{g}' does not exist in the cluster firewall (/cluster/firewall/groups)"
        )),
        None => Ok(()),
    }
}

/// Options first (`PUT .../firewall/options`), then the rules. Proxmox puts a rule it is given
/// at the top (pve-firewall src/PVE/API2/Firewall/Rules.pm, `create_rule` unshifts), so they
/// go in reverse order to end up in the annotation's.
pub fn write(node: &str, vmid: Vmid, fw: &FirewallRequest, call: &mut Call) -> Result<(), String> {
    let base = format!("/nodes/{node}/lxc/{vmid}/firewall");
    let opts: Vec<(String, String)> = fw.options.clone().into_iter().collect();
    call("PUT", &format!("{base}/options"), &opts)
        .map_err(|e| format!("PUT {base}/options: {e}"))?;
    for r in fw.rules.iter().rev() {
        call("POST", &format!("{base}/rules"), &r.form())
            .map_err(|e| format!("POST {base}/rules: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::firewall::firewall_request;
    use std::collections::BTreeMap;

    #[test]
    fn groups_checked_by_name() {
        let l = serde_json::json!([{"group": "web", "digest": "x"}, {"group": "db"}]);
        let have = group_names(&l);
        assert_eq!(have, vec!["web", "db"]);
        assert!(check_groups("a", &["db".into()], &have).is_ok());
        let e = check_groups("a", &["nope".into()], &have).unwrap_err();
        assert!(e.contains("security group 'nope' does not exist"), "{e}");
    }

    #[test]
    fn options_then_rules_in_reverse() {
        let ann = BTreeMap::from([(
            crate::mapping::firewall::RULES_ANNOTATION.to_string(),
            "IN DROP -p tcp -dport 22; IN ACCEPT".to_string(),
        )]);
        let fw = firewall_request(&ann).unwrap().unwrap();
        let mut seen = Vec::new();
        write("pve1", Vmid::new(100).unwrap(), &fw, &mut |m, p, f| {
            seen.push(format!("{m} {p} {}", f.len()));
            Ok(Value::Null)
        })
        .unwrap();
        assert_eq!(
            seen,
            vec![
                "PUT /nodes/pve1/lxc/100/firewall/options 1",
                "POST /nodes/pve1/lxc/100/firewall/rules 3",
                "POST /nodes/pve1/lxc/100/firewall/rules 5",
            ]
        );
    }
}
