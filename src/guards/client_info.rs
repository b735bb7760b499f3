//! The client's user agent and IP address. `X-Forwarded-For` is believed only when the
//! socket peer is one of `auth.trusted_proxies`; otherwise anyone could choose the IP
//! that the sessions page shows.

use std::convert::Infallible;
use std::net::IpAddr;

use ipnet::IpNet;
use rocket::request::{FromRequest, Outcome, Request};

use crate::shared::Shared;

/// Where a request comes from: a request guard that always succeeds.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientInfo {
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// The client's address: the socket peer, or what trusted proxies forwarded.
    pub ip: Option<IpAddr>,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for ClientInfo {
    type Error = Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let trusted = Shared::of(request.rocket()).map_or(&[][..], |shared| shared.config.trusted_proxies.as_slice());
        let forwarded = request.headers().get("X-Forwarded-For").collect::<Vec<_>>().join(",");
        Outcome::Success(ClientInfo {
            user_agent: request.headers().get_one("User-Agent").map(str::to_string),
            ip: client_ip(request.remote().map(|remote| remote.ip()), &forwarded, trusted),
        })
    }
}

/// Walks `X-Forwarded-For` from the right while the hop is a trusted proxy; the first
/// untrusted address is the client. Unparsable entries stop the walk at the last good hop.
fn client_ip(peer: Option<IpAddr>, forwarded_for: &str, trusted: &[IpNet]) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = peer?;
    if !is_trusted(&client) {
        return Some(client);
    }
    for hop in forwarded_for.rsplit(',').map(str::trim).filter(|hop| !hop.is_empty()) {
        match hop.parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    Some(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().filter_map(|net| net.parse().ok()).collect()
    }

    #[test]
    fn forwarded_for_is_ignored_from_untrusted_peers() {
        let peer = "203.0.113.9".parse().ok();
        assert_eq!(client_ip(peer, "198.51.100.1", &nets(&["10.0.0.0/8"])), peer);
    }

    #[test]
    fn the_first_untrusted_hop_from_the_right_is_the_client() {
        let peer = "10.0.0.2".parse().ok();
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(client_ip(peer, "1.2.3.4, 198.51.100.7, 10.0.0.5", &trusted), "198.51.100.7".parse().ok());
        assert_eq!(client_ip(peer, "", &trusted), peer);
        assert_eq!(client_ip(peer, "junk, 10.0.0.7", &trusted), "10.0.0.7".parse().ok());
    }
}
