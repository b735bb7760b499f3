//! The latchkey app: logging, then the Rocket built by the library.

use std::io::IsTerminal;

use latchkey::log_output::{BatchedOutput, FLUSH_EVERY};
use tracing_subscriber::EnvFilter;

#[rocket::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let filter = EnvFilter::try_from_env("LATCHKEY_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Kept until `main` returns: dropping it writes out the last lines.
    let (output, _flush_on_exit) = BatchedOutput::new(std::io::stdout(), FLUSH_EVERY)?;
    // Colours only for a person watching a terminal, not escape codes in a log file.
    let ansi = std::io::stdout().is_terminal();
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(output).init();
    let _ = latchkey::rocket().launch().await.map_err(Box::new)?;
    Ok(())
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
