//! `wsbench sim`: the simulated board.

use crate::exit::{CommandResult, Failure};

#[derive(Debug, clap::Args)]
pub struct SimArgs {}

pub fn main(_args: SimArgs) -> CommandResult {
    Err(Failure::usage(miette::miette!("wsbench sim is not built yet")))
}
