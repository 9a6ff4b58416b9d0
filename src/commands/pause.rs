//! `pause ID` / `resume ID`: freeze and thaw every process of the CT.

use super::Ctx;

pub fn run(_ctx: &Ctx, id: &str, pause: bool) -> anyhow::Result<()> {
    super::unimplemented::run(if pause { "pause" } else { "resume" }, id)
}
