//! A TCP relay in front of the real PostgreSQL that a test can cut and restore: a
//! database outage for one app, without stopping the server other tests use.

use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct PgProxy {
    pub port: u16,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl PgProxy {
    pub async fn start() -> PgProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let proxy = PgProxy { port, tasks: Arc::new(Mutex::new(Vec::new())) };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: TcpListener) {
        let tasks = Arc::clone(&self.tasks);
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let relay = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect("127.0.0.1:5432").await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                if let Ok(mut tasks) = tasks.lock() {
                    tasks.push(relay);
                }
            }
        });
        self.tasks.lock().expect("lock").push(accept);
    }

    /// `url` (a database URL on 127.0.0.1:5432) rewritten to go through this relay.
    pub fn url(&self, url: &str) -> String {
        url.replace("127.0.0.1:5432", &format!("127.0.0.1:{}", self.port))
    }

    /// Drops every relayed connection and stops listening: connections are refused.
    pub fn cut(&self) {
        for task in self.tasks.lock().expect("lock").drain(..) {
            task.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn restore(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.expect("rebind proxy");
        self.serve(listener);
    }
}

impl Drop for PgProxy {
    fn drop(&mut self) {
        self.cut();
    }
}
