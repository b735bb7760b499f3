//! The latchkey app: logging, then the Rocket built by the library.

use tracing_subscriber::EnvFilter;

#[rocket::main]
async fn main() -> Result<(), Box<rocket::Error>> {
    let filter = EnvFilter::try_from_env("LATCHKEY_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let _ = latchkey::rocket().launch().await.map_err(Box::new)?;
    Ok(())
}
