//! The latchkey app: logging, then the Rocket built by the library.

use std::io::BufWriter;

use tracing_subscriber::EnvFilter;

#[rocket::main]
async fn main() -> Result<(), Box<rocket::Error>> {
    let filter = EnvFilter::try_from_env("LATCHKEY_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Log lines (one per request at `info`) are handed to a writer thread instead of being
    // written by the request's own worker; it writes them in batches and flushes whenever
    // it has caught up. Not lossy: when the writer falls behind, requests wait for it
    // rather than lose lines. The guard flushes what is left when `main` returns.
    let (writer, _flush_on_exit) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(BufWriter::new(std::io::stdout()));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).init();
    let _ = latchkey::rocket().launch().await.map_err(Box::new)?;
    Ok(())
}
