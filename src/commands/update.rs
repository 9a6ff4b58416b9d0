//! `update --resources FILE|- ID`: apply new limits to the running CT.

use crate::cli::UpdateArgs;

use super::Ctx;

pub fn run(_ctx: &Ctx, args: &UpdateArgs) -> anyhow::Result<()> {
    super::unimplemented::run("update", &args.id)
}
