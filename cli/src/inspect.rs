//! `orderflow inspect DIR`: the recorder's report on a log directory.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

#[derive(Debug, clap::Args)]
pub(crate) struct InspectArgs {
    /// The log directory.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

/// Prints [`orderflow_recorder::inspect`]'s report; exit 1 when a segment is damaged or has a
/// torn tail.
pub(crate) fn run(args: &InspectArgs) -> Result<ExitCode> {
    let report = orderflow_recorder::inspect(&args.dir)
        .with_context(|| format!("inspecting {}", args.dir.display()))?;
    print!("{report}");
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
