//! `state ID`: answered from the state dir and the shim's liveness only, never from the node.

use serde::Serialize;

use super::{out, Ctx};
use crate::state::State;

/// The OCI state document: no CRI-O-internal keys, RFC 3339 `created` (CRI-O decodes it over its
/// own record, internal/oci/container.go; docs/callers.md).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState<'a> {
    pub oci_version: &'a str,
    pub id: &'a str,
    pub status: String,
    pub pid: i32,
    pub bundle: &'a std::path::Path,
    pub rootfs: &'a std::path::Path,
    pub created: &'a str,
    pub owner: &'a str,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: &'a std::collections::BTreeMap<String, String>,
}

impl<'a> OciState<'a> {
    pub fn of(st: &'a State) -> OciState<'a> {
        OciState {
            oci_version: &st.oci_version,
            id: &st.id,
            status: st.status().to_string(),
            pid: st.pid(),
            bundle: &st.bundle,
            rootfs: &st.rootfs,
            created: &st.created,
            owner: "",
            annotations: &st.annotations,
        }
    }
}

pub fn run(ctx: &Ctx, id: &str) -> anyhow::Result<()> {
    let st = ctx.dir(id)?.load()?;
    out(serde_json::to_string_pretty(&OciState::of(&st))?)?;
    Ok(())
}
