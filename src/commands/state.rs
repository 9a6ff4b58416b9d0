//! `state ID`: answered from the state dir and the shim's liveness only, never from the node.

use super::{out, Ctx};
use crate::state::OciState;

pub fn run(ctx: &Ctx, id: &str) -> anyhow::Result<()> {
    let st = ctx.dir(id)?.load()?;
    out(serde_json::to_string_pretty(&OciState::of(&st))?)?;
    Ok(())
}
