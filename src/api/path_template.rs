//! An API path as a bounded label for the operation counts (src/opstats): the names and IDs
//! in it become placeholders, `/nodes/pve1/lxc/100123/status/start` is
//! `/nodes/{node}/lxc/{vmid}/status/start`.

/// Collections whose next segment names one of their members, and that member's placeholder
/// (pve-manager's API schema, PVE/API2/*.pm, names them so).
const MEMBERS: &[(&str, &str)] = &[
    ("nodes", "{node}"),
    ("lxc", "{vmid}"),
    ("tasks", "{upid}"),
    ("storage", "{storage}"),
    ("content", "{volume}"),
    ("resources", "{sid}"),
    ("groups", "{group}"),
    ("rules", "{pos}"),
    ("pools", "{pool}"),
    ("network", "{iface}"),
    ("zones", "{zone}"),
    ("vnets", "{vnet}"),
];

pub fn of(path: &str) -> String {
    let path = path.split('?').next().unwrap_or("");
    let mut out = String::new();
    let mut prev = "";
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        let member = MEMBERS.iter().find(|(c, _)| *c == prev).map(|(_, m)| *m);
        match member {
            Some(member) => out.push_str(member),
            // The API's own words are short lower-case names; anything else is an argument.
            None if seg.len() <= 32
                && seg.bytes().any(|b| b.is_ascii_lowercase())
                && seg.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-".contains(&b)
                }) =>
            {
                out.push_str(seg)
            }
            None => out.push_str("{arg}"),
        }
        // A member is not itself a collection (a storage may be called `content`).
        prev = if member.is_some() { "" } else { seg };
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::of;

    #[test]
    fn names_and_ids_become_placeholders() {
        assert_eq!(
            of("/nodes/pve1/lxc/100123/status/start"),
            "/nodes/{node}/lxc/{vmid}/status/start"
        );
        assert_eq!(
            of("/nodes/pve-2/tasks/UPID:pve-2:0001:vzcreate:100:root@pam:/status"),
            "/nodes/{node}/tasks/{upid}/status"
        );
        assert_eq!(
            of("/nodes/n1/storage/content/content/local%3Avztmpl%2Fx.tar"),
            "/nodes/{node}/storage/{storage}/content/{volume}"
        );
        assert_eq!(
            of("/cluster/ha/resources/ct:100"),
            "/cluster/ha/resources/{sid}"
        );
        assert_eq!(of("/version"), "/version");
        assert_eq!(of("/nodes?x=1"), "/nodes");
        assert_eq!(of("/cluster/Weird Name"), "/cluster/{arg}");
    }
}
